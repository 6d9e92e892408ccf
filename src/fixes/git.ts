/** Git for the fixes stage: the one git module lives in src/process. */
export { authorEnv, type GitIdentity, type GitOptions, type GitResult, git, gitOut } from '../process/index.js';
