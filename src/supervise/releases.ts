import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DancerError } from '../errors.js';
import { gitSync, runProcess } from '../process/index.js';
import { inheritedEnv } from './child-env.js';
import type { ReleaseRow, SuperviseStore } from './state-store.js';
import { startScript } from './worker.js';

/** The pseudo-release that runs the working tree as it is: only for services outside git. */
export const WORKTREE_RELEASE = 'worktree';

const MARKER = '.dancer-release';
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function revParse(repo: string, rev: string): { stdout: string; exitCode: number } {
  try {
    return gitSync(repo, ['rev-parse', '--verify', '--quiet', rev], { allowFail: true });
  } catch {
    return { stdout: '', exitCode: -1 }; // git could not run (no such folder): an unknown ref
  }
}

/**
 * Resolve a git ref to a full commit sha.
 *
 * @throws {DancerError} `DANCER_DEPLOY_FAILED` when the repository or the ref is unknown.
 */
export function resolveCommit(repo: string | undefined, ref: string): string {
  if (!repo) throw new DancerError('DANCER_DEPLOY_FAILED', 'Deploys need the service to live in a git repository.');
  const result = revParse(repo, `${ref}^{commit}`);
  const sha = result.stdout.trim();
  if (result.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(sha)) {
    throw new DancerError('DANCER_DEPLOY_FAILED', `Unknown git ref "${ref}" in ${repo}.`, { details: { ref, repo } });
  }
  return sha;
}

/** A commit and the tree it records: the tree is the release id. */
export interface ReleaseRef {
  commit: string;
  tree: string;
}

/**
 * Resolve a git ref to its commit and that commit's tree.
 *
 * @throws {DancerError} `DANCER_DEPLOY_FAILED` when the repository or the ref is unknown.
 */
export function resolveRelease(repo: string | undefined, ref: string): ReleaseRef {
  const commit = resolveCommit(repo, ref);
  const result = revParse(repo as string, `${commit}^{tree}`);
  const tree = result.stdout.trim();
  if (result.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(tree)) {
    throw new DancerError('DANCER_DEPLOY_FAILED', `No tree for commit ${commit} in ${repo}.`, { details: { commit } });
  }
  return { commit, tree };
}

/** Options for {@link buildRelease}. */
export interface BuildReleaseOptions {
  service: string;
  repo: string;
  commit: string;
  /** The commit's tree: the release id and folder name (default: the commit, for old callers). */
  tree?: string | undefined;
  releasesDir: string;
  /** `service.build`, run with /bin/sh in the release directory. */
  build?: string | undefined;
  store: SuperviseStore;
  env?: Record<string, string>;
  /** Variables the build does not inherit (Dancer's secrets): it runs code the model may have written. */
  withholdEnv?: readonly string[] | undefined;
  /** Build output goes here (the supervisor tees it to stderr). */
  onOutput?: (chunk: Buffer) => void;
}

/**
 * Build `commit` once into `<releasesDir>/<tree>`: `git archive` into a temporary folder, run
 * the build command there, then rename it into place. A release is keyed by its tree, so one
 * already built (by this commit or any other with the same tree, a revert among them) is reused
 * as is: a rollback is a restart, never a rebuild.
 *
 * @throws {DancerError} `DANCER_DEPLOY_FAILED` when extraction or the build fails (the row says why).
 */
export async function buildRelease(options: BuildReleaseOptions): Promise<ReleaseRow> {
  const { store, service, commit } = options;
  const id = options.tree ?? commit;
  const dir = path.join(options.releasesDir, id);
  const existing = store.getRelease(service, id);
  if (existing?.status === 'ready' && existsSync(path.join(existing.dir, MARKER))) return existing;
  const createdAt = Date.now();
  store.putRelease({
    service,
    id,
    commitSha: commit,
    dir,
    status: 'building',
    createdAt,
    builtAt: null,
    error: null,
  });
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await run('git -C "$DANCER_REPO" archive --format=tar "$DANCER_COMMIT" | tar -x -C "$DANCER_DEST"', {
      cwd: tmp,
      env: { ...process.env, DANCER_REPO: options.repo, DANCER_COMMIT: commit, DANCER_DEST: tmp },
      what: 'git archive',
    });
    reuseDependencies(options.repo, tmp);
    if (options.build) {
      await run(startScript(options.build, false), {
        cwd: tmp,
        env: { ...inheritedEnv(options.withholdEnv), ...options.env, DANCER_RELEASE: id },
        what: `build "${options.build}"`,
        onOutput: options.onOutput,
      });
    }
    writeFileSync(path.join(tmp, MARKER), `${JSON.stringify({ commit, tree: id, builtAt: Date.now() })}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    const message = (error as Error).message;
    store.putRelease({
      service,
      id,
      commitSha: commit,
      dir,
      status: 'failed',
      createdAt,
      builtAt: null,
      error: message,
    });
    throw error instanceof DancerError
      ? error
      : new DancerError('DANCER_DEPLOY_FAILED', `Release ${commit.slice(0, 12)} failed: ${message}`, { cause: error });
  }
  const row: ReleaseRow = {
    service,
    id,
    commitSha: commit,
    dir,
    status: 'ready',
    createdAt,
    builtAt: Date.now(),
    error: null,
  };
  store.putRelease(row);
  return row;
}

const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'];

/**
 * Link the repository's installed `node_modules` into a release when the release's lockfile is
 * the same as the working tree's (or neither has one), so a build needs no install; a release
 * whose dependencies changed gets no link, and its `service.build` must install them.
 */
export function reuseDependencies(repo: string, release: string): boolean {
  const installed = path.join(repo, 'node_modules');
  const target = path.join(release, 'node_modules');
  if (!existsSync(installed) || existsSync(target)) return false;
  const same = LOCKFILES.every((name) => {
    const a = path.join(repo, name);
    const b = path.join(release, name);
    if (!existsSync(a) && !existsSync(b)) return true;
    return existsSync(a) && existsSync(b) && readFileSync(a, 'utf8') === readFileSync(b, 'utf8');
  });
  if (!same) return false;
  symlinkSync(installed, target, 'dir');
  return true;
}

/**
 * The shell that runs a release step in the runner's process group: the step runs in the
 * background so the trap fires at once, and a TERM (the runner's timeout or abort, or the
 * parent-death signal of a supervisor killed with -9) kills the whole group, a multi-statement
 * build's children among them.
 */
const GROUP_GUARD = `trap 'kill -s KILL 0' TERM; /bin/sh -c "$DANCER_STEP" & wait $!`;

async function run(
  script: string,
  opts: { cwd: string; env: NodeJS.ProcessEnv; what: string; onOutput?: ((chunk: Buffer) => void) | undefined },
): Promise<void> {
  const argv = SETPRIV
    ? [SETPRIV, '--pdeathsig', 'TERM', '--', '/bin/sh', '-c', GROUP_GUARD]
    : ['/bin/sh', '-c', GROUP_GUARD];
  const result = await runProcess(argv[0] as string, argv.slice(1), {
    cwd: opts.cwd,
    env: { ...opts.env, DANCER_STEP: script },
    onOutput: opts.onOutput,
    tailBytes: 4000,
    maxBuffer: 0,
  });
  if (result.ok) return;
  const why = result.spawnError ?? result.signal ?? `exit ${result.exitCode}`;
  throw new DancerError(
    'DANCER_DEPLOY_FAILED',
    `${opts.what} failed (${why}): ${result.outputTail.trim().slice(-1000)}`,
    {
      details: { code: result.exitCode, signal: result.signal, output: result.outputTail },
    },
  );
}
