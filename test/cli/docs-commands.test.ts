import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';

// Each doc, and at least how many command lines it shows (so a broken extractor cannot pass).
const DOCS: Record<string, number> = { 'getting-started.md': 20, 'architecture.md': 2 };

/** Every `dancer ...` command line in a Markdown file: shell blocks and inline code. */
function commandLines(markdown: string): string[] {
  const lines: string[] = [];
  for (const match of markdown.matchAll(/`(dancer [^`]+)`/g)) lines.push(match[1] as string);
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of (block[1] as string).split('\n')) {
      const code = line.replace(/#.*$/, '').trim();
      if (code.startsWith('dancer ')) lines.push(code);
    }
  }
  return lines;
}

/** Problems with one command line: an unknown command or an option the command does not take. */
function check(program: Command, line: string): string[] {
  const words = line.split(/\s+/).slice(1);
  let command = program;
  let i = 0;
  for (; i < words.length; i++) {
    const sub = command.commands.find((c) => c.name() === words[i] || c.aliases().includes(words[i] as string));
    if (!sub) break;
    command = sub;
  }
  const problems: string[] = [];
  if (command === program && !words[0]?.startsWith('-')) problems.push(`${line}: unknown command ${words[0]}`);
  else if (command.commands.length > 0 && words[i] !== undefined && !words[i]?.startsWith('-')) {
    problems.push(`${line}: ${command.name()} has no command ${words[i]}`);
  }
  for (const word of words.slice(i)) {
    if (!word.startsWith('-') || word === '--help' || word === '-h') continue;
    const flag = word.split('=')[0] as string;
    if (!command.options.some((o) => o.long === flag || o.short === flag)) {
      problems.push(`${line}: ${command.name()} has no option ${flag}`);
    }
  }
  return problems;
}

describe('the commands the docs show exist, with the options they use', () => {
  for (const [doc, atLeast] of Object.entries(DOCS)) {
    it(doc, async () => {
      const program = await buildProgram();
      const lines = commandLines(readFileSync(new URL(`../../docs/${doc}`, import.meta.url), 'utf8'));
      expect(lines.length).toBeGreaterThanOrEqual(atLeast);
      expect(lines.flatMap((line) => check(program, line))).toEqual([]);
    });
  }

  it('the check catches an unknown command and an unknown option', async () => {
    const program = await buildProgram();
    expect(check(program, 'dancer fixes approve 1 --reason x')).toEqual([]);
    expect(check(program, 'dancer fixes aprove 1')).toEqual(['dancer fixes aprove 1: fixes has no command aprove']);
    expect(check(program, 'dancer nope')).toEqual(['dancer nope: unknown command nope']);
    expect(check(program, 'dancer logs list --nope')).toEqual(['dancer logs list --nope: list has no option --nope']);
  });
});
