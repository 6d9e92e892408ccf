/**
 * The set-up the rollback tests share: a service in a git repo with one commit, run by the real
 * supervisor (`runService`), a fix pipeline whose gate runs `node --test test/`, the rollback
 * recorder and the live actions on top. The agent (`runAgent`) is each test's own.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { fixesSchema, policySchema } from '../../src/config/schema/fixes.js';
import type { PipelineDeps } from '../../src/fixes/pipeline.js';
import { createLiveActions, type LiveActions } from '../../src/heal/live-actions.js';
import { type RollbackRecorder, startRollbackRecorder } from '../../src/heal/rollback-recorder.js';
import { runService } from '../../src/heal/run-service.js';
import { fixDeployFunctions } from '../../src/supervise/fix-deploy.js';
import type { Supervisor } from '../../src/supervise/supervisor.js';
import { expectGone, makeServiceDir } from '../supervise/helpers.js';

/** What {@link startRollbackHarness} needs. */
export interface RollbackHarnessOptions {
  /** `service.start`. */
  start: string;
  /** `service.observe`. */
  observe: Record<string, unknown>;
  /** Files of the first commit (besides `.gitignore`). */
  files: Record<string, string>;
  /** Message of the first commit. */
  commit: string;
  /** The agent: edits the worktree, returns its result (see PipelineDeps.runAgent). */
  runAgent: PipelineDeps['runAgent'];
  /** Passed on as PipelineDeps.onTransition. */
  onTransition?: PipelineDeps['onTransition'];
  /** Receives the tear-down (run in reverse order of registration by the test's afterEach). */
  cleanups: Array<() => Promise<void> | void>;
}

/** A running harness. */
export interface RollbackHarness {
  dir: string;
  /** git in `dir` (throws on a non-zero exit); returns trimmed stdout. */
  git: (...args: string[]) => string;
  sup: Supervisor;
  db: Supervisor['store']['db'];
  /** The service's port. */
  port: number;
  deps: () => PipelineDeps;
  recorder: RollbackRecorder;
  actions: LiveActions;
  /** What the recorder logged. */
  logs: string[];
}

/** Start the service, the pipeline, the recorder and the live actions (see the module doc). */
export async function startRollbackHarness(options: RollbackHarnessOptions): Promise<RollbackHarness> {
  const dir = makeServiceDir({ start: options.start, observe: options.observe });
  const worktreeBase = mkdtempSync(path.join(tmpdir(), 'dancer-rollback-wt-'));
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'T');
  git('config', 'user.email', 't@e');
  writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
  for (const [file, text] of Object.entries(options.files)) writeFileSync(path.join(dir, file), text);
  git('add', '-A');
  git('commit', '-q', '-m', options.commit);
  const started = new Set<number>();
  const run = await runService({
    loaded: loadConfig({ file: path.join(dir, 'dancer.yaml') }),
    signals: false,
    log: (m) => {
      const pid = /started worker pid (\d+)/.exec(m);
      if (pid) started.add(Number(pid[1]));
    },
  });
  options.cleanups.push(async () => {
    await run.stop();
    await expectGone([...started]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(worktreeBase, { recursive: true, force: true });
  });
  const sup = run.supervisor;
  const db = sup.store.db;
  const deps = (): PipelineDeps => ({
    db,
    repo: dir,
    worktreeBase,
    fixes: fixesSchema.parse({
      gate: {
        steps: [{ name: 'test', run: `${process.execPath} --test test/` }],
        regression: { command: `${process.execPath} --test {file}` },
      },
    }),
    policy: policySchema.parse({}),
    onTransition: options.onTransition,
    runAgent: options.runAgent,
    ...fixDeployFunctions(sup),
  });
  const logs: string[] = [];
  const recorder = startRollbackRecorder({ supervisor: sup, deps, log: (m) => logs.push(m) });
  options.cleanups.push(() => recorder.stop());
  const actions = createLiveActions({
    db,
    supervisor: sup,
    pipeline: deps,
    recordRollback: (o) => recorder.record(o),
    rollbackFix: (id, by) => recorder.rollbackFix(id, by),
  });
  return { dir, git, sup, db, port: sup.boundSockets[0]!.port, deps, recorder, actions, logs };
}
