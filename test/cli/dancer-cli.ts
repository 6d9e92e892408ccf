/**
 * Running the built `dancer` CLI from tests: one-shot commands, a long-lived `dancer run`, its
 * status, and git with a fixed identity. Shared by the CLI and e2e tests so each spawns it the same way.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import type { StatusReport } from '../../src/supervise/supervisor.js';

/** The CLI entry point (run `npm run build` first). */
export const BIN = path.resolve(import.meta.dirname, '../../bin/dancer.js');

/** What a one-shot command printed and its exit code. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run one `dancer` command to its end, with NO_COLOR set and `env` over the test's environment. */
export function dancer(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A `dancer run` started by {@link startRun}. */
export interface Running {
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Start `dancer run --config <config>` in the background; stderr is kept for failure messages. */
export function startRun(config: string, env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [BIN, 'run', '--config', config], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

/** `dancer status --json` of the service configured in `config`; throws with stderr on failure. */
export async function statusOf(config: string): Promise<StatusReport> {
  const r = dancer(['status', '--config', config, '--json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as StatusReport;
}

/** The environment git needs to commit in a test repository (a fixed author and committer). */
export const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'T',
  GIT_AUTHOR_EMAIL: 't@e',
  GIT_COMMITTER_NAME: 'T',
  GIT_COMMITTER_EMAIL: 't@e',
};

/** A git runner in `dir` that returns trimmed stdout. */
export function gitIn(dir: string): (...args: string[]) => string {
  return (...args) => spawnSync('git', args, { cwd: dir, env: GIT_ENV, encoding: 'utf8' }).stdout.trim();
}
