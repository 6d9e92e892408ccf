/**
 * A small typed wrapper over the git CLI (through execa). Every failure becomes a DancerError
 * with the command, exit code and stderr in `details`; nothing here swallows an error.
 */
import { execa } from 'execa';
import { DancerError, type DancerErrorCode } from '../errors.js';

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
  let result: Awaited<ReturnType<typeof execa>>;
  try {
    result = await execa('git', args, {
      cwd,
      env: { GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C', ...options.env },
      input: options.input,
      reject: false,
      stripFinalNewline: true,
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (error) {
    throw new DancerError('DANCER_GIT_FAILED', `git ${args.join(' ')} could not run: ${(error as Error).message}`, {
      cause: error,
      details: { cwd, args },
    });
  }
  const out: GitResult = {
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    exitCode: result.exitCode ?? (result.failed ? 1 : 0),
  };
  if (result.failed && result.exitCode === undefined) {
    throw new DancerError('DANCER_GIT_FAILED', `git ${args[0]} could not run: ${result.message}`, {
      details: { cwd, args },
    });
  }
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
