import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultActorName } from '../../src/cli/fixes.js';
import { register as registerStop } from '../../src/cli/stop.js';
import { loadConfig } from '../../src/config/index.js';
import { consultSchema } from '../../src/config/schema/consult.js';
import { fixesSchema, policySchema } from '../../src/config/schema/fixes.js';
import { insertConsultation, insertLedger } from '../../src/consult/store.js';
import { type PipelineDeps, startFix } from '../../src/fixes/pipeline.js';
import { applyEvent, createFix, type FixRecord, fixEvents, getFix } from '../../src/fixes/records.js';
import type { DeployRequest } from '../../src/fixes/types.js';
import { createLiveActions, watchEmergencyStop } from '../../src/heal/live-actions.js';
import { runService } from '../../src/heal/run-service.js';
import { listAudit } from '../../src/notify/audit.js';
import { createNotifyHub, type NotifyEvent } from '../../src/notify/events.js';
import { alertToEvents, createFixFeed, fixInfoFromRecord, fixTransitionToEvents } from '../../src/notify/feed.js';
import { type Db, openStore } from '../../src/store/open.js';
import { emergencyStop, setEmergencyStop } from '../../src/supervise/emergency.js';
import { fixDeployFunctions } from '../../src/supervise/fix-deploy.js';
import { depsFor, goodAgent, makeServiceRepo, sh } from '../fixes/helpers.js';
import { expectGone, get, makeServiceDir, waitFor } from '../supervise/helpers.js';

const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

function tempDb(): Db {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-live-actions-'));
  const db = openStore(path.join(dir, 'dancer.db'));
  open.push(db);
  return db;
}

/** A fix moved to awaiting_approval through the real state machine (no git needed). */
function waitingFix(db: Db, at = 1_000): FixRecord {
  const fix = createFix(
    db,
    { patternId: 'p-7', patternHash: 'abcdef12', patternText: 'boom <*>', actor: 'detector', reason: 'spike' },
    at,
  );
  applyEvent(
    db,
    fix.id,
    { event: 'submit', actor: 'agent', reason: 'committed', fields: { summary: 'Guard boom' } },
    at + 1,
  );
  return applyEvent(
    db,
    fix.id,
    { event: 'pass', actor: 'gate', reason: 'gate passed', fields: { risk: 'low' } },
    at + 2,
  );
}

async function expectCode(p: unknown, code: string): Promise<void> {
  await expect(Promise.resolve().then(() => p)).rejects.toMatchObject({ code });
}

describe('live actions over a real store', () => {
  it('status, fixes and show read the store; show of an unknown id is undefined', async () => {
    const db = tempDb();
    const fix = waitingFix(db);
    const actions = createLiveActions({ db });
    const status = await actions.status();
    expect(status.stopped).toBeNull();
    expect(status.awaitingApproval).toEqual([fix.id]);
    expect(status.openFixes).toBe(1);
    const list = await actions.fixes();
    expect(list.map((f) => [f.id, f.state, f.title])).toEqual([[fix.id, 'awaiting_approval', 'Guard boom']]);
    const shown = await actions.show(fix.id);
    expect(shown).toMatchObject({
      id: fix.id,
      state: 'awaiting_approval',
      pattern: { id: 'p-7', summary: 'boom <*>' },
      risk: { level: 'low' },
    });
    expect(await actions.show(999)).toBeUndefined();
  });

  it('reject records the human and the reason', async () => {
    const db = tempDb();
    const fix = waitingFix(db);
    const actions = createLiveActions({ db });
    const result = await actions.reject(fix.id, 'human:alice@example.com', 'too risky');
    expect(result.message).toContain('rejected');
    const after = getFix(db, fix.id);
    expect(after.state).toBe('rejected');
    const last = fixEvents(db, fix.id).at(-1);
    expect(last).toMatchObject({ actor: 'human:alice@example.com', reason: 'too risky', toState: 'rejected' });
  });

  it('stop persists the flag and aborts; approve is refused while stopped; resume lifts it', async () => {
    const db = tempDb();
    const fix = waitingFix(db);
    let aborted = 0;
    let resumed = 0;
    const actions = createLiveActions({ db, abortRunning: () => aborted++, onResume: () => resumed++ });
    const stopped = await actions.stop('human:bob@example.com', 'incident');
    expect(stopped.effects).toContain('running consultation and fix pipeline aborted');
    expect(aborted).toBe(1);
    expect(emergencyStop(db)).toMatchObject({ setBy: 'human:bob@example.com', reason: 'incident' });
    expect((await actions.status()).stopped).toMatchObject({ by: 'human:bob@example.com', reason: 'incident' });

    await expectCode(actions.approve(fix.id, 'human:alice@example.com'), 'DANCER_EMERGENCY_STOP');
    expect(getFix(db, fix.id).state).toBe('awaiting_approval');
    await expectCode(actions.rollback(fix.id, 'human:alice@example.com'), 'DANCER_EMERGENCY_STOP');

    expect((await actions.resume('human:bob@example.com')).message).toContain('lifted');
    expect(resumed).toBe(1);
    expect(emergencyStop(db)).toBeUndefined();
    expect((await actions.resume('human:bob@example.com')).message).toContain('not engaged');

    const approved = await actions.approve(fix.id, 'human:alice@example.com');
    expect(approved.message).toContain('approved');
    expect(getFix(db, fix.id).state).toBe('approved');
    expect(fixEvents(db, fix.id).at(-1)?.actor).toBe('human:alice@example.com');
    await expectCode(actions.approve(fix.id, 'human:alice@example.com'), 'DANCER_ILLEGAL_TRANSITION');
  });

  it('budget and digest come from the consult ledger and fix events', async () => {
    const db = tempDb();
    const t = Date.UTC(2026, 10, 25, 12);
    const id = insertConsultation(db, {
      createdAt: t - 1000,
      urgent: false,
      mode: 'auto',
      status: 'succeeded',
      brief: 'b',
    });
    insertLedger(db, {
      consultationId: id,
      ts: t - 500,
      model: 'm',
      inputTokens: 1,
      outputTokens: 1,
      cacheReadTokens: 0,
      cacheCreationTokens: 0,
      costUsd: 0.25,
      modelUsage: null,
      turns: 1,
      durationMs: 10,
      durationApiMs: null,
      outcome: 'fix',
    });
    const fix = waitingFix(db, t - 400);
    const consult = consultSchema.parse({});
    const actions = createLiveActions({ db, consult, now: () => t });
    const budget = await actions.budget();
    expect(budget).toMatchObject({
      todayUsd: 0.25,
      consultationsToday: 1,
      dailyLimitUsd: consult.budget.perDayUsd,
      perConsultationLimitUsd: consult.routine.maxBudgetUsd,
    });
    const digest = await actions.digest!(t - 60_000, t);
    expect(digest).toMatchObject({ costUsd: 0.25, consultations: 1, fixes: { proposed: 1, open: 1, deployed: 0 } });
    await actions.reject(fix.id, 'human:a@example.com', 'no');
    expect((await actions.digest!(t - 60_000, t + 1e9)).fixes.rejected).toBe(1);
  });
});

describe('feed adapter', () => {
  it('maps a sequence of transitions to the bot events', () => {
    const db = tempDb();
    const fix = waitingFix(db);
    const at = 5;
    const info = fixInfoFromRecord(db, fix);
    const pass = fixTransitionToEvents(
      fix,
      { event: 'pass', actor: 'gate', reason: 'ok' },
      { info, from: 'testing', at },
    );
    expect(pass.map((e) => e.type)).toEqual(['fix_state', 'fix_proposed', 'approval_requested']);
    expect(pass[0]).toMatchObject({ from: 'testing', to: 'awaiting_approval', actor: 'gate', fix: { id: fix.id } });

    const merged = { ...fix, state: 'deploying' as const, mergeCommit: 'a'.repeat(40) };
    const deploy = fixTransitionToEvents(
      merged,
      { event: 'deploy', actor: 'git', reason: 'merged' },
      { info, from: 'approved', at },
    );
    expect(deploy.map((e) => e.type)).toEqual(['fix_state', 'deploy_started']);
    expect(deploy[1]).toMatchObject({ release: 'a'.repeat(12), fixId: fix.id });

    const rolled = { ...merged, state: 'rolled_back' as const, rollbackCommit: 'b'.repeat(40) };
    const rb = fixTransitionToEvents(
      rolled,
      { event: 'rollback', actor: 'supervisor', reason: 'the deploy failed: x' },
      { info, from: 'deploying', at },
    );
    expect(rb.map((e) => e.type)).toEqual(['fix_state', 'deploy_finished', 'rollback']);
    expect(rb[1]).toMatchObject({ ok: false });
    expect(rb[2]).toMatchObject({
      fromRelease: 'a'.repeat(12),
      toRelease: 'b'.repeat(12),
      reason: 'the deploy failed: x',
    });

    const confirm = fixTransitionToEvents(
      { ...merged, state: 'deployed' },
      { event: 'confirm', actor: 'timer', reason: 'healthy' },
      { info, from: 'observing', at },
    );
    expect(confirm.map((e) => e.type)).toEqual(['fix_state', 'deploy_finished']);

    const failed = { ...fix, state: 'failed' as const };
    expect(
      fixTransitionToEvents(
        failed,
        { event: 'fail', actor: 'gate', reason: 'tests' },
        { info, from: 'testing', at },
      ).map((e) => e.type),
    ).toEqual(['fix_state']);
    expect(
      fixTransitionToEvents(
        failed,
        { event: 'fail', actor: 'agent', reason: 'crashed' },
        { info, from: 'proposed', at },
      ).map((e) => e.type),
    ).toEqual(['fix_state', 'failure']);
  });

  it('maps supervisor alerts, leaving fix rollbacks to the pipeline', () => {
    expect(alertToEvents({ kind: 'rolled_back', message: 'm', details: { reason: 'crash loop' } }, 1)).toEqual([
      { type: 'rollback', at: 1, reason: 'crash loop', actor: 'supervisor', ok: true },
    ]);
    expect(alertToEvents({ kind: 'rolled_back', message: 'm' }, 1, 4)).toEqual([]);
    expect(alertToEvents({ kind: 'failed', message: 'gave up' }, 1)[0]).toMatchObject({
      type: 'failure',
      component: 'supervisor',
    });
  });
});

describe('live actions with the real fix pipeline and git', () => {
  it('an approval merges and deploys in the background; the feed reports every step', async () => {
    const r = makeServiceRepo('dancer-live-');
    const deploys: DeployRequest[] = [];
    const hub = createNotifyHub((e) => {
      throw e;
    });
    const events: NotifyEvent[] = [];
    hub.subscribe((e) => events.push(e));
    const base = depsFor(r, goodAgent, {
      deploy: async (req) => {
        deploys.push(req);
        return { ok: true };
      },
      observe: async () => ({ verdict: 'healthy', reason: 'pattern rate fell to 0' }),
    });
    open.push(base.db);
    const feed = createFixFeed({ db: base.db, hub, repo: r.repo });
    const deps = { ...base, onTransition: feed.onTransition };
    const waiting = await startFix(deps, {
      patternId: '42',
      patternHash: 'ab12cd34ef56',
      patternText: 'total failed <*>',
    });
    expect(waiting.state).toBe('awaiting_approval');
    const proposal = events.find((e) => e.type === 'fix_proposed');
    expect(proposal?.type === 'fix_proposed' && proposal.fix.files?.map((f) => f.path)).toEqual(
      expect.arrayContaining(['src/cart.mjs', 'test/cart-empty.test.mjs']),
    );
    expect(events.some((e) => e.type === 'approval_requested' && e.fix.id === waiting.id)).toBe(true);

    const actions = createLiveActions({ db: base.db, pipeline: () => deps });
    const shown = await actions.show(waiting.id);
    expect(shown?.diff).toContain('a + b, 0)');
    expect(shown?.gates?.every((g) => g.ok)).toBe(true);

    const result = await actions.approve(waiting.id, 'human:alice@example.com');
    expect(result.message).toContain('deploying it now');
    await actions.settled();
    const done = getFix(base.db, waiting.id);
    expect(done.state).toBe('deployed');
    expect(sh(r.repo, 'rev-parse', 'HEAD')).toBe(done.mergeCommit);
    expect(deploys).toEqual([expect.objectContaining({ kind: 'fix', fixId: waiting.id, commit: done.mergeCommit })]);
    const after = events.slice(events.findIndex((e) => e.type === 'approval_requested') + 1).map((e) => e.type);
    expect(after).toEqual(['fix_state', 'fix_state', 'deploy_started', 'fix_state', 'fix_state', 'deploy_finished']);
    expect(events.find((e) => e.type === 'fix_state' && e.to === 'approved')).toMatchObject({
      actor: 'human:alice@example.com',
    });
  }, 120_000);
});

describe('stop during a deploy (real supervisor, real workers)', () => {
  const LISTEN = path.resolve(import.meta.dirname, '../../dist/supervise/listen.js');
  const appSource = (tag: string) => `import http from 'node:http';
import { listen } from ${JSON.stringify(LISTEN)};
await listen(http.createServer((req, res) => { res.end(process.pid + ' ${tag}\\n'); }));
`;

  async function serviceWithDeploy(windowSeconds: number) {
    const dir = makeServiceDir({
      start: 'node app.mjs',
      observe: { windowSeconds, checkEverySeconds: 0.2, baselineSeconds: 60, minRecords: 5, minErrors: 5 },
    });
    const gitEnv = {
      ...process.env,
      GIT_AUTHOR_NAME: 'T',
      GIT_AUTHOR_EMAIL: 't@e',
      GIT_COMMITTER_NAME: 'T',
      GIT_COMMITTER_EMAIL: 't@e',
    };
    const git = (...args: string[]) => {
      const r = spawnSync('git', args, { cwd: dir, env: gitEnv, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    git('init', '-q', '-b', 'main');
    git('config', 'user.name', 'T');
    git('config', 'user.email', 't@e');
    git('config', 'commit.gpgsign', 'false');
    writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
    writeFileSync(path.join(dir, 'app.mjs'), appSource('good'));
    git('add', '-A');
    git('commit', '-q', '-m', 'good');
    git('checkout', '-q', '-b', 'feature');
    writeFileSync(path.join(dir, 'app.mjs'), appSource('new'));
    git('commit', '-q', '-am', 'feature');
    git('checkout', '-q', 'main');
    const started = new Set<number>();
    const run = await runService({
      loaded: loadConfig({ file: path.join(dir, 'dancer.yaml') }),
      signals: false,
      log: (m) => {
        const pid = /started worker pid (\d+)/.exec(m);
        if (pid) started.add(Number(pid[1]));
      },
    });
    return {
      dir,
      run,
      git,
      async close() {
        await run.stop();
        await expectGone([...started]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  it('rolls a deploy in its observation window back to the last good release; the service stays up', async () => {
    const { run, close } = await serviceWithDeploy(60);
    try {
      const sup = run.supervisor;
      const port = sup.boundSockets[0]!.port;
      const deploy = sup.deploy('feature');
      await waitFor(() => sup.status().observing, 15_000, 'observing');
      expect((await get(port, '/')).body).toContain('new');
      const actions = createLiveActions({ db: sup.store.db, supervisor: sup });
      expect((await actions.status()).deploy).toMatchObject({ phase: 'observing' });

      const pending = actions.stop('human:bob@example.com', 'incident');
      // The flag is persisted before stop() yields: deploys are refused from this moment.
      expect(emergencyStop(sup.store.db)).toMatchObject({ setBy: 'human:bob@example.com' });
      const stopped = await pending;
      expect(stopped.effects?.join('\n')).toMatch(/rolled back to/);
      expect((await deploy).status).toBe('rolled_back');
      expect((await get(port, '/')).body).toContain('good');
      const status = await actions.status();
      expect(status.stopped).toMatchObject({ by: 'human:bob@example.com' });
      expect(status.deploy).toBeNull();
      expect(status.service?.state).toBe('running');
      await expectCode(sup.deploy('feature'), 'DANCER_EMERGENCY_STOP');
    } finally {
      await close();
    }
  }, 60_000);

  it('stop while an approved fix is observed: the service returns to the good release, the fix is rolled back on main', async () => {
    const svc = await serviceWithDeploy(60);
    const worktreeBase = mkdtempSync(path.join(tmpdir(), 'dancer-live-wt-'));
    try {
      const sup = svc.run.supervisor;
      const db = sup.store.db;
      const port = sup.boundSockets[0]!.port;
      const hub = createNotifyHub((e) => {
        throw e;
      });
      const events: NotifyEvent[] = [];
      hub.subscribe((e) => events.push(e));
      const feed = createFixFeed({ db, hub, repo: svc.dir });
      let controller = new AbortController();
      const node = process.execPath;
      const fixes = fixesSchema.parse({
        gate: {
          steps: [{ name: 'test', run: `${node} --test test/` }],
          regression: { command: `${node} --test {file}` },
        },
      });
      const deps = (): PipelineDeps => ({
        db,
        repo: svc.dir,
        worktreeBase,
        fixes,
        policy: policySchema.parse({}),
        runAgent: async (wt) => {
          writeFileSync(path.join(wt, 'app.mjs'), appSource('fixed'));
          mkdirSync(path.join(wt, 'test'), { recursive: true });
          writeFileSync(
            path.join(wt, 'test/fixed.test.mjs'),
            `import assert from 'node:assert/strict';\nimport { readFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('fixed', () => assert.match(readFileSync(new URL('../app.mjs', import.meta.url), 'utf8'), /fixed/));\n`,
          );
          return {
            kind: 'fix',
            summary: 'Say fixed',
            risk: 'low',
            regressionTest: 'test/fixed.test.mjs',
            costUsd: 0.01,
          };
        },
        ...fixDeployFunctions(sup),
        onTransition: feed.onTransition,
        signal: controller.signal,
      });
      const waiting = await startFix(deps(), { patternId: 'p1', patternHash: 'feedbeef00', patternText: 'boom' });
      expect(waiting.state).toBe('awaiting_approval');

      const actions = createLiveActions({
        db,
        supervisor: sup,
        pipeline: deps,
        abortRunning: () => controller.abort(),
        onResume: () => {
          controller = new AbortController();
        },
      });
      await actions.approve(waiting.id, 'human:alice@example.com');
      await waitFor(() => getFix(db, waiting.id).state === 'observing', 30_000, 'the fix observed');
      expect((await get(port, '/')).body).toContain('fixed');

      const stopped = await actions.stop('human:bob@example.com', 'incident');
      expect(stopped.effects?.join('\n')).toMatch(new RegExp(`deploy of fix ${waiting.id} rolled back to`));
      expect((await get(port, '/')).body).toContain('good');
      const fix = getFix(db, waiting.id);
      expect(fix.state).toBe('rolled_back');
      expect(fixEvents(db, fix.id).at(-1)?.actor).toBe('human:bob@example.com');
      expect(readFileSync(path.join(svc.dir, 'app.mjs'), 'utf8')).toMatch(/ good\\n'/);
      expect(svc.git('rev-parse', 'HEAD')).toBe(fix.rollbackCommit);
      expect(events.filter((e) => e.type === 'rollback').map((e) => e.type === 'rollback' && e.fixId)).toEqual([
        fix.id,
      ]);
      await actions.settled();
    } finally {
      await svc.close();
      rmSync(worktreeBase, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('dancer stop / resume audit', () => {
  it('write an audit row with the OS user', async () => {
    const dir = makeServiceDir({ start: 'node app.mjs' });
    try {
      const program = new Command().exitOverride();
      registerStop(program);
      const config = path.join(dir, 'dancer.yaml');
      await program.parseAsync(['stop', '--config', config, '--reason', 'incident'], { from: 'user' });
      await program.parseAsync(['resume', '--config', config], { from: 'user' });
      const db = openStore(path.join(dir, '.dancer/dancer.db'));
      open.push(db);
      const user = defaultActorName();
      expect(listAudit(db).map((a) => [a.actor, a.source, a.action, a.outcome, a.args])).toEqual([
        [`cli:${user}`, 'cli', 'stop', 'ok', { reason: 'incident' }],
        [`cli:${user}`, 'cli', 'resume', 'ok', undefined],
      ]);
      expect(emergencyStop(db)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('watchEmergencyStop', () => {
  it('halts within the interval when another process sets the flag, once per engagement', async () => {
    const db = tempDb();
    let aborted = 0;
    const actions = createLiveActions({ db, abortRunning: () => aborted++ });
    const halts: string[][] = [];
    const unwatch = watchEmergencyStop(db, async () => halts.push(await actions.halt()), { intervalMs: 50 });
    try {
      setEmergencyStop(db, 'cli-user', 'from the CLI', 1_000);
      const t0 = Date.now();
      await waitFor(() => aborted === 1, 1000, 'the halt');
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(halts).toEqual([['running consultation and fix pipeline aborted']]);
      await new Promise((r) => setTimeout(r, 150));
      expect(aborted).toBe(1);
      await actions.resume('human:a@example.com');
      setEmergencyStop(db, 'cli-user', null, 2_000);
      await waitFor(() => aborted === 2, 1000, 'the second halt');
    } finally {
      unwatch();
    }
  });
});
