/**
 * An observation that cannot tell does not pass, end to end: a real supervised service (a meter
 * that logs a flush failure on a timer) whose fix doubles that failure's rate over a baseline of a
 * few seconds. The doubling is above the +50 % threshold but no test can tell it from noise on so
 * short a baseline: the window is extended, then the deploy is rolled back to the last good
 * release, and the reason ("inconclusive: error rate X/min vs baseline Y/min, p=..., after N
 * extensions") reaches the deploy rows, the fix's events, the audit row, the bot's message and the
 * changelog. Real supervisor, workers, git, gate and fix pipeline (the agent is a function).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildChangelog, collectChangelog, renderChangelog } from '../../src/fixes/index.js';
import { startFix } from '../../src/fixes/pipeline.js';
import { fixEvents, getFix } from '../../src/fixes/records.js';
import { listAudit } from '../../src/notify/audit.js';
import { createNotifyHub, type NotifyEvent } from '../../src/notify/events.js';
import { createFixFeed } from '../../src/notify/feed.js';
import { formatRollback } from '../../src/notify/zulip/format.js';
import { startRollbackHarness } from '../heal/rollback-harness.js';
import { get, waitFor } from './helpers.js';

const LISTEN = path.resolve(import.meta.dirname, '../../dist/supervise/listen.js');

/** The meter: a reading every 50 ms, a failed ledger flush every `failEveryMs`. */
const meter = (failEveryMs: number) => `import http from 'node:http';
import { listen } from ${JSON.stringify(LISTEN)};
const log = (level, msg, extra = {}) =>
  process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, ...extra }) + '\\n');
let reading = 0;
setInterval(() => log(30, 'meter reading ' + ++reading), 50);
setInterval(() => log(50, 'ledger flush failed: ledger 7 unreachable', { err: { type: 'LedgerError', message: 'ledger 7 unreachable' } }), ${failEveryMs});
await listen(http.createServer((req, res) => res.end(process.pid + ' ' + process.env.DANCER_RELEASE + ' every ${failEveryMs}\\n')));
`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a doubling on a short baseline', () => {
  it('is extended, then rolled back as inconclusive, and every record says why', async () => {
    const hub = createNotifyHub();
    const events: NotifyEvent[] = [];
    hub.subscribe((e) => events.push(e));
    let feed: ReturnType<typeof createFixFeed> | undefined;
    const { dir, git, sup, db, port, deps, actions } = await startRollbackHarness({
      start: 'node meter.mjs',
      // A 4 s baseline holds ~10 failures: a doubling cannot be told from +50 % on it.
      observe: { windowSeconds: 2, checkEverySeconds: 0.25, baselineSeconds: 4, maxExtensions: 2, minRecords: 5 },
      files: { 'meter.mjs': meter(400) },
      commit: 'meter',
      cleanups,
      onTransition: (fix, t) => feed?.onTransition(fix, t),
      runAgent: async (wt) => {
        // "Retries the flush sooner": every retry fails too, so the failures double.
        writeFileSync(path.join(wt, 'meter.mjs'), meter(200));
        mkdirSync(path.join(wt, 'test'), { recursive: true });
        writeFileSync(
          path.join(wt, 'test/retry.test.mjs'),
          `import assert from 'node:assert/strict';\nimport { readFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('flushes are retried within 200 ms', () => assert.match(readFileSync(new URL('../meter.mjs', import.meta.url), 'utf8'), /, 200\\);/));\n`,
        );
        return {
          kind: 'fix',
          summary: 'Retry the ledger flush sooner',
          risk: 'low',
          regressionTest: 'test/retry.test.mjs',
          costUsd: 0,
        };
      },
    });
    const goodTree = git('rev-parse', 'HEAD^{tree}');
    feed = createFixFeed({ db, hub, repo: dir });

    const fix = await startFix(deps(), {
      patternId: 'ledger',
      patternHash: 'feedbeef01',
      patternText: 'ledger flush failed: ledger 7 unreachable',
    });
    expect(fix.state).toBe('awaiting_approval');
    await actions.approve(fix.id, 'human:alice@dancer.test');
    const ended = await waitFor(
      () => {
        const f = getFix(db, fix.id);
        return ['rolled_back', 'deployed'].includes(f.state) && f;
      },
      90_000,
      'the fix to end',
    );
    expect(ended.state).toBe('rolled_back');

    // The deploy: extended, then rolled back; the rollback row and the deploy row say why.
    const deploys = sup.store.listDeploys(sup.name, 10);
    const dep = deploys.find((d) => d.kind === 'deploy' && d.fixId === fix.id)!;
    const rb = deploys.find((d) => d.kind === 'rollback')!;
    const why =
      /^inconclusive: error rate \d+\.\d\d\/min vs baseline \d+\.\d\d\/min over \d s served, p=[\d.e-]+, after (\d) extensions?: above the \+50% threshold/;
    expect(dep.status).toBe('rolled_back');
    expect(dep.reason).toMatch(why);
    expect(rb.reason).toMatch(why);
    expect(dep.verdict).toMatchObject({ verdict: 'rollback', triggers: ['inconclusive'] });
    // the window was extended to its bound first (a longer one would not have told either)
    expect(dep.extensions).toBe(2);
    expect(why.exec(dep.reason ?? '')?.[1]).toBe('2');
    // the failures' rate measured in the window is about double the baseline's
    const v = dep.verdict as {
      baseline: { errors: number; durationMs: number };
      window: { errors: number; durationMs: number };
    };
    const ratio = v.window.errors / v.window.durationMs / (v.baseline.errors / v.baseline.durationMs);
    expect(ratio).toBeGreaterThan(1.5);
    expect(ratio).toBeLessThan(3);
    // the last good release serves again
    expect(sup.status().currentRelease).toBe(goodTree);
    expect((await get(port, '/')).body).toContain('every 400');

    // The fix's events, the audit row, the bot's message and the changelog carry the reason.
    const last = fixEvents(db, fix.id).at(-1)!;
    expect(last).toMatchObject({ toState: 'rolled_back', actor: 'supervisor' });
    expect(last.reason).toMatch(/^inconclusive: error rate .* after \d extensions?/);
    const audit = listAudit(db).find((a) => a.action === 'rollback' && a.target === `fix:${fix.id}`);
    expect(String(audit?.args?.reason)).toMatch(why);
    const rollback = events.find((e): e is Extract<NotifyEvent, { type: 'rollback' }> => e.type === 'rollback');
    expect(rollback).toBeDefined();
    const message = formatRollback(rollback!, {
      botName: 'Dancer',
      maxLength: 10_000,
      emoji: { approve: 'check', reject: 'cross_mark' },
    });
    expect(message).toMatch(/\*\*Reason:\*\* inconclusive: error rate .*, p=.*, after \d extensions?/);
    const changelog = renderChangelog(buildChangelog(await collectChangelog(db, dir, Date.now())), Date.now());
    expect(changelog).toMatch(/rolled back by dancer \(supervisor\): inconclusive: error rate/);
  }, 150_000);
});
