/**
 * Processes: the one runner ({@link runProcess}) and the one git module. Everything Dancer runs
 * as a child goes through here; the sandbox (src/sandbox) only changes the argv and environment.
 */
export { authorEnv, type GitIdentity, type GitOptions, type GitResult, git, gitOut, gitSync } from './git.js';
export { killGroup, type ProcessResult, type RunProcessOptions, runProcess } from './run.js';
