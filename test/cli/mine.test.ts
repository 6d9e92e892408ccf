import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';

// Runs the built CLI (`npm run build` first), in a temp dir so no dancer.yaml is picked up.
const bin = path.resolve(import.meta.dirname, '../../bin/dancer.js');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-mine-'));
  dirs.push(dir);
  return dir;
}

function mine(args: string[], options: { cwd?: string; input?: string } = {}) {
  return execa(process.execPath, [bin, 'mine', ...args], {
    cwd: options.cwd ?? tempDir(),
    input: options.input,
    reject: false,
    env: { NO_COLOR: '1' },
  });
}

describe('dancer mine --assignments', () => {
  it('prints <line>\\t<id>\\t<template> for every line, with final templates', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'msgs.txt');
    // No newline at the end; an empty line and a CRLF line in the middle.
    writeFileSync(file, 'cache miss for key k7x\r\nworker 1 started\n\ncache miss for key k9y\nworker 2 started');
    const r = await mine(['--assignments', file], { cwd: dir });
    expect(r.exitCode).toBe(0);
    const rows = r.stdout.split('\n').map((l) => l.split('\t'));
    expect(rows.map((row) => row[0])).toEqual(['1', '2', '3', '4', '5']);
    // Line 1's template is the final one (generalised by line 4), not the one at the time.
    expect(rows[0]?.[2]).toBe('cache miss for key <*>');
    expect(rows[3]).toEqual(['4', rows[0]?.[1], 'cache miss for key <*>']);
    expect(rows[1]?.[2]).toBe('worker <*> started');
    expect(rows[4]?.[1]).toBe(rows[1]?.[1]);
    expect(rows[2]?.[2]).toBe('');
    for (const row of rows) expect(row).toHaveLength(3);
    expect(r.stderr).toMatch(/mined 5 lines into 3 templates/);
  });

  it('reads stdin with - (and by default), and prints nothing else on stdout', async () => {
    const input = 'GET /a 200\nGET /b 200\n';
    for (const args of [['--assignments', '-'], ['--assignments']]) {
      const r = await mine([...args, '--quiet'], { input });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('1\t1\tGET <*> <*>\n2\t1\tGET <*> <*>');
      expect(r.stderr).toBe('');
    }
  });

  it('prints NDJSON with --json', async () => {
    const r = await mine(['--assignments', '--json', '-', '-q'], { input: 'a 1\na 2\n' });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').map((l) => JSON.parse(l))).toEqual([
      { line: 1, templateId: 1, template: 'a <*>' },
      { line: 2, templateId: 1, template: 'a <*>' },
    ]);
  });
});

describe('dancer mine', () => {
  const input = ['job 1 done', 'job 2 done', 'job 3 done', 'disk full on /var', 'disk full on /tmp'].join('\n');

  it('prints templates with counts, most frequent first', async () => {
    const r = await mine(['-'], { input });
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+COUNT\s+TEMPLATE\s*$/);
    expect(lines[1]).toMatch(/^1\s+3\s+job <\*> done$/);
    expect(lines[2]).toMatch(/^2\s+2\s+disk full on <\*>$/);
  });

  it('prints a JSON array with --json, --top limiting it', async () => {
    const r = await mine(['-', '--json', '--top', '1'], { input });
    expect(JSON.parse(r.stdout)).toEqual([{ id: 1, count: 3, template: 'job <*> done' }]);
  });

  it('uses patterns.masks from dancer.yaml', async () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, 'dancer.yaml'),
      'patterns:\n  masks:\n    custom:\n      - name: order\n        pattern: "ORD-[A-Z]+"\n',
    );
    const r = await mine(['--assignments', '-q'], { cwd: dir, input: 'shipped ORD-ABC\n' });
    expect(r.stdout).toBe('1\t1\tshipped <*>');
  });

  it('fails clearly on a missing file and on a bad --top', async () => {
    const missing = await mine(['/nonexistent/dancer-mine.txt']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/DANCER_CAPTURE_INPUT_FAILED/);
    const top = await mine(['-', '--top', 'x'], { input: 'a\n' });
    expect(top.exitCode).toBe(2);
    expect(top.stderr).toMatch(/DANCER_USAGE/);
  });

  it('has --help', async () => {
    const r = await mine(['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/--assignments/);
    expect(r.stdout).toMatch(/--json/);
  });
});
