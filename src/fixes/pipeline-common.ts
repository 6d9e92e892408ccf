/**
 * What the fix pipeline's modules share: the injected dependencies and the small helpers every
 * state handler uses (record a transition, the main branch, the git identity, unique tags).
 */
import type { FixesConfig, PolicyConfig } from '../config/index.js';
import type { Sandbox } from '../sandbox/index.js';
import type { Db } from '../store/index.js';
import { authorEnv } from './git.js';
import { beforeTagName } from './names.js';
import { applyEvent, type FixRecord, type Transition } from './records.js';
import { currentBranch, tagExists } from './repo.js';
import type { DeployFn, DeployRequest, ObserveFn, RunAgent } from './types.js';

/** Everything the pipeline needs, injected. */
export interface PipelineDeps {
  db: Db;
  /** The service repository's main working tree. */
  repo: string;
  /** Folder the fix worktrees go under (see `defaultWorktreeBase`). */
  worktreeBase: string;
  fixes: FixesConfig;
  policy: PolicyConfig;
  /** Runs the consultation in the worktree (consult's runner, or a fake in tests). */
  runAgent: RunAgent;
  /** Deploys a merged commit. Without it the pipeline stops at `approved`. */
  deploy?: DeployFn | undefined;
  /** The observation window. Without it a live deploy is confirmed at once. */
  observe?: ObserveFn | undefined;
  /** The deployed commit fixes start from. Default: the tip of the main branch. */
  deployedCommit?: (() => string | Promise<string>) | undefined;
  /** Folder whose node_modules the gate may reuse. Default: the main working tree. */
  dependenciesFrom?: string | undefined;
  /** Repository-relative path of dancer.yaml when it lives in the repository (always protected). */
  configPath?: string | undefined;
  clock?: (() => number) | undefined;
  /** Emergency stop / shutdown: the pipeline stops between steps and kills running gate steps. */
  signal?: AbortSignal | undefined;
  /** Called (and awaited) after every recorded transition. */
  onTransition?: ((fix: FixRecord, transition: Transition) => void | Promise<void>) | undefined;
  /** Progress lines (the supervisor logs them). */
  log?: ((message: string) => void) | undefined;
  /** Where gate steps run. Default: `fixes.sandbox` resolved at each gate run. */
  sandbox?: Sandbox | undefined;
  /** More of Dancer's own paths to hide from gate steps (state folder, config); the store and worktree base always are. */
  hide?: readonly string[] | undefined;
}

/** The pipeline clock now. */
export const now = (deps: PipelineDeps) => (deps.clock ?? Date.now)();

/** Record one transition and tell the listeners. */
export async function move(deps: PipelineDeps, id: number, t: Transition): Promise<FixRecord> {
  const fix = applyEvent(deps.db, id, t, now(deps));
  deps.log?.(`fix ${id}: ${t.event} -> ${fix.state} (${t.actor}): ${t.reason.split('\n')[0]}`);
  await deps.onTransition?.(fix, t);
  return fix;
}

/** The branch fixes merge into. */
export async function mainBranchOf(deps: PipelineDeps): Promise<string> {
  return deps.fixes.mainBranch ?? currentBranch(deps.repo);
}

/** The git identity of Dancer's commits. */
export function env(deps: PipelineDeps): Record<string, string> {
  return authorEnv(deps.fixes.author);
}

/** A `dancer-before-*` tag name not taken yet. */
export async function uniqueTag(repo: string, at: number): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const name = beforeTagName(at, attempt);
    if (!(await tagExists(repo, name))) return name;
  }
}

/** The deploy request for a fix. */
export function request(
  fix: FixRecord,
  kind: DeployRequest['kind'],
  commit: string,
  signal?: AbortSignal,
): DeployRequest {
  return { kind, fixId: fix.id, commit, patternId: fix.patternId, branch: fix.branch ?? undefined, signal };
}
