/**
 * `dancer guard --policy FILE`: the PreToolUse hook of a manual bundle. Claude Code runs it
 * before every tool call with the call as JSON on stdin; it prints the decision (the same guard
 * and the same Bash sandbox as an automatic consultation). `--give-back` returns the worktree to
 * Dancer's uid after the run.
 */
import type { Command } from 'commander';
import { answerFromFile, type HookInput, readGuardFile } from '../consult/index.js';
import { DancerError } from '../errors.js';
import { chownTree } from '../sandbox/index.js';

interface GuardOptions {
  policy: string;
  giveBack?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Register `dancer guard`. */
export function register(program: Command): void {
  program
    .command('guard')
    .description(
      "PreToolUse hook of a manual bundle: reads Claude Code's hook input on stdin, prints the guard's decision (Bash rewritten to run in the sandbox).",
    )
    .requiredOption('--policy <file>', "the bundle's guard.json")
    .option('--give-back', 'hand the worktree back to Dancer after the run (the sandbox user borrowed it)')
    .action(async (options: GuardOptions) => {
      if (options.giveBack) {
        const policy = readGuardFile(options.policy);
        const uid = process.getuid?.();
        if (uid === 0) chownTree(policy.worktree, uid, process.getgid?.() ?? 0);
        return;
      }
      let input: HookInput;
      try {
        input = JSON.parse(await readStdin()) as HookInput;
      } catch (error) {
        throw new DancerError(
          'DANCER_USAGE',
          `dancer guard expects the hook input JSON on stdin: ${(error as Error).message}`,
        );
      }
      process.stdout.write(`${JSON.stringify(answerFromFile(options.policy, input))}\n`);
    });
}
