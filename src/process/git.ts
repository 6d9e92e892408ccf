/**
 * The one git module: a small typed wrapper over the git CLI, run through {@link runProcess}.
 * Every failure becomes a DancerError with the command, exit code and stderr in `details`;
 * nothing here swallows an error.
 */
import { spawnSync } from 'node:child_process';
import { DancerError, type DancerErrorCode } from '../errors.js';
import { runProcess } from './run.js';

/** The result of one git command. */
export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Options for {@link git}. */
export interface GitOptions {
  /** Extra environment (e.g. the author identity from {@link authorEnv}). */
  env?: Record<string, string> | undefined;
  /** Text for stdin. */
  input?: string | undefined;
  /** Return a non-zero exit instead of throwing. */
  allowFail?: boolean;
  /** Keep stdout exactly as git wrote it (no final newline stripped). */
  raw?: boolean;
  /** Error code to throw on failure. Default `DANCER_GIT_FAILED`. */
  code?: DancerErrorCode;
}

/** The identity Dancer commits as. */
export interface GitIdentity {
  name: string;
  email: string;
}

/** Environment variables that make git commit as `who`, whatever the global config says. */
export function authorEnv(who: GitIdentity): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: who.name,
    GIT_AUTHOR_EMAIL: who.email,
    GIT_COMMITTER_NAME: who.name,
    GIT_COMMITTER_EMAIL: who.email,
  };
}

/**
 * Run `git <args>` in `cwd`.
 *
 * @throws {DancerError} `DANCER_GIT_FAILED` (or `options.code`) when git exits non-zero, unless
 * `allowFail`; the git binary missing is `DANCER_GIT_FAILED` too.
 */
export async function git(cwd: string, args: readonly string[], options: GitOptions = {}): Promise<GitResult> {
  const result = await runProcess('git', args, {
    cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C', ...options.env },
    input: options.input,
    tailBytes: 4000,
  });
  if (result.spawnError !== null) {
    throw new DancerError('DANCER_GIT_FAILED', `git ${args.join(' ')} could not run: ${result.spawnError}`, {
      details: { cwd, args },
    });
  }
  const out: GitResult = {
    stdout: options.raw ? result.stdout : result.stdout.replace(/\r?\n$/, ''),
    stderr: result.stderr.replace(/\r?\n$/, ''),
    exitCode: result.exitCode ?? 1,
  };
  if (out.exitCode !== 0 && !options.allowFail) {
    const first = out.stderr.split('\n').find((l) => l.trim()) ?? `exit ${out.exitCode}`;
    throw new DancerError(options.code ?? 'DANCER_GIT_FAILED', `git ${args[0]} failed in ${cwd}: ${first}`, {
      details: { cwd, args, exitCode: out.exitCode, stderr: out.stderr.slice(-4000) },
    });
  }
  return out;
}

/** `git ... ` returning trimmed stdout. */
export async function gitOut(cwd: string, args: readonly string[], options: GitOptions = {}): Promise<string> {
  return (await git(cwd, args, options)).stdout.trim();
}

/**
 * `git <args>` in `cwd`, synchronously, for the few callers that cannot wait (a store tool
 * rendering a fix's diff). Same environment and errors as {@link git}; bounded by `timeoutMs`.
 *
 * @throws {DancerError} `DANCER_GIT_FAILED` (or `options.code`) like {@link git}.
 */
export function gitSync(
  cwd: string,
  args: readonly string[],
  options: GitOptions & { timeoutMs?: number; maxBuffer?: number } = {},
): GitResult {
  const r = spawnSync('git', args, {
    cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C', ...options.env },
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 10_000,
    maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024,
    killSignal: 'SIGKILL',
  });
  if (r.error || r.status === null) {
    throw new DancerError(
      'DANCER_GIT_FAILED',
      `git ${args.join(' ')} could not run: ${r.error?.message ?? `killed by ${r.signal}`}`,
      { details: { cwd, args } },
    );
  }
  const out: GitResult = {
    stdout: options.raw ? r.stdout : r.stdout.replace(/\r?\n$/, ''),
    stderr: r.stderr.replace(/\r?\n$/, ''),
    exitCode: r.status,
  };
  if (out.exitCode !== 0 && !options.allowFail) {
    const first = out.stderr.split('\n').find((l) => l.trim()) ?? `exit ${out.exitCode}`;
    throw new DancerError(options.code ?? 'DANCER_GIT_FAILED', `git ${args[0]} failed in ${cwd}: ${first}`, {
      details: { cwd, args, exitCode: out.exitCode, stderr: out.stderr.slice(-4000) },
    });
  }
  return out;
}
