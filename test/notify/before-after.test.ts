import { afterEach, describe, expect, it } from 'vitest';
import { applyEvent, type FixRecord } from '../../src/fixes/records.js';
import { resumedBy, stopResumeEvent } from '../../src/heal/oversight.js';
import { latestAuditActor, recordAudit } from '../../src/notify/audit.js';
import { beforeAfterOf, beforeAfterRows } from '../../src/notify/before-after.js';
import { deployFigures, fixInfoFromRecord, fixTransitionToEvents } from '../../src/notify/feed.js';
import { changesSince, cursorNow } from '../../src/notify/store-watch.js';
import { formatDeployFinished, formatRollback } from '../../src/notify/zulip/format.js';
import { setEmergencyStop } from '../../src/supervise/emergency.js';
import { seededStore } from '../dashboard/helpers.js';

const VERDICT = {
  verdict: 'rollback',
  reasons: ['error rate 30.00/min vs baseline 6.00/min (limit +50%)'],
  baseline: {
    durationMs: 120_000,
    records: 1200,
    errors: 12,
    targetCount: 8,
    p95LatencyMs: 41.5,
    maxRssBytes: 80 * 1048576,
    crashes: 0,
  },
  window: {
    durationMs: 60_000,
    records: 700,
    errors: 30,
    targetCount: 0,
    p95LatencyMs: 60,
    maxRssBytes: 96 * 1048576,
    crashes: 0,
  },
};
const CTX = {
  stream: 'dancer',
  statusTopic: 'dancer',
  maxLength: 10_000,
  emoji: { approve: 'check', reject: 'cross_mark' },
};

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('before/after figures of a deploy', () => {
  it('reads the stored verdict: per-minute rates, p95 and RSS in MiB', () => {
    const ba = beforeAfterOf(VERDICT);
    expect(ba?.before).toMatchObject({ errorRate: 6, patternRate: 4, p95Ms: 41.5, memMb: 80, requestsPerMin: 600 });
    expect(ba?.after).toMatchObject({ errorRate: 30, patternRate: 0, p95Ms: 60, memMb: 96 });
    expect(ba?.verdict).toBe('rollback');
    expect(beforeAfterOf({ readyMs: 1407 })).toBeUndefined();
    expect(beforeAfterOf(null)).toBeUndefined();
    expect(beforeAfterRows(ba?.before, ba?.after)).toEqual([
      { label: 'error rate', before: '6.00/min', after: '30.00/min', change: '+400%' },
      { label: 'target pattern', before: '4.00/min', after: '0.00/min', change: '-100%' },
      { label: 'p95 latency', before: '41.5 ms', after: '60.0 ms', change: '+45%' },
      { label: 'RSS', before: '80.0 MiB', after: '96.0 MiB', change: '+20%' },
    ]);
  });

  it('the Zulip deploy and rollback messages carry the table', () => {
    const ba = beforeAfterOf(VERDICT);
    const rollback = formatRollback(
      { type: 'rollback', at: 0, fixId: 4, reason: 'error rate +400%', actor: 'supervisor', ok: true, ...ba },
      CTX as never,
    );
    expect(rollback).toContain('| metric | before | after | change |');
    expect(rollback).toContain('| errors/min | 6.00 | 30.00 | +400% |');
    expect(rollback).toContain('| target pattern/min | 4.00 | 0.00 | −100% |');
    expect(rollback).toContain('| p95 latency (ms) | 41.5 | 60.0 | +45% |');
    expect(rollback).toContain('| RSS (MiB) | 80.0 | 96.0 | +20% |');
    const deployed = formatDeployFinished(
      { type: 'deploy_finished', at: 0, fixId: 4, release: 'abc', ok: true, before: ba?.before, after: ba?.after },
      CTX as never,
    );
    expect(deployed).toContain('| RSS (MiB) | 80.0 | 96.0 | +20% |');
  });

  it('the feed puts the figures of the fix deploy into the observation outcome events', () => {
    const s = seededStore('dancer-before-after-');
    cleanups.push(() => s.cleanup());
    const { db } = s;
    let fix: FixRecord = applyEvent(db, s.fix.id, { event: 'approve', actor: 'human:a', reason: '' }, 1);
    fix = applyEvent(
      db,
      fix.id,
      { event: 'deploy', actor: 'git', reason: 'merged', fields: { mergeCommit: 'c'.repeat(40) } },
      2,
    );
    fix = applyEvent(db, fix.id, { event: 'live', actor: 'supervisor', reason: 'ready' }, 3);
    expect(deployFigures(db, fix.id)).toBeUndefined();
    db.prepare(
      `INSERT INTO deploys (service, kind, to_release, fix_id, status, started_at, verdict)
       VALUES ('shop', 'deploy', ?, ?, 'rolled_back', 1, ?)`,
    ).run('c'.repeat(40), fix.id, JSON.stringify(VERDICT));
    const figures = deployFigures(db, fix.id);
    expect(figures?.after.errorRate).toBe(30);
    const t = { event: 'rollback' as const, actor: 'supervisor' as const, reason: 'error rate +400%' };
    fix = applyEvent(db, fix.id, t, 4);
    const events = fixTransitionToEvents(fix, t, {
      info: fixInfoFromRecord(db, fix),
      from: 'observing',
      at: 4,
      figures,
    });
    const rollback = events.find((e) => e.type === 'rollback');
    expect(rollback).toMatchObject({ before: { errorRate: 6 }, after: { errorRate: 30 } });
  });
});

describe('stop and resume from any source become hub events', () => {
  it('a stop names who set it; a resume names the newest resume in the audit log', () => {
    const s = seededStore('dancer-stop-events-');
    cleanups.push(() => s.cleanup());
    const { db } = s;
    const cursor = cursorNow(db);
    setEmergencyStop(db, 'bob', 'deploy freeze', 10_000);
    const [stop] = changesSince(db, cursor).filter((c) => c.type === 'stop');
    expect(stop).toBeDefined();
    expect(stopResumeEvent(db, stop as never, 0)).toEqual({
      type: 'stopped',
      at: 10_000,
      by: 'bob',
      reason: 'deploy freeze',
    });
    db.prepare("DELETE FROM flags WHERE name = 'emergency_stop'").run();
    recordAudit(db, { ts: Date.now(), actor: 'dashboard:carol', source: 'dashboard', action: 'resume', outcome: 'ok' });
    const [resume] = changesSince(db, cursor).filter((c) => c.type === 'resume');
    expect(resume).toBeDefined();
    expect(stopResumeEvent(db, resume as never, 5)).toEqual({ type: 'resumed', at: 5, by: 'dashboard:carol' });
    expect(resumedBy(db, 0)).toBe('dashboard:carol');
    // Audit rows and fix transitions are no stop/resume.
    expect(changesSince(db, cursorNow(db))).toEqual([]);
  });
});

describe('latestAuditActor (the audit read other stages use instead of their own SQL)', () => {
  it('names the newest successful entry of the action since the given time, and nothing else', () => {
    const s = seededStore('dancer-audit-latest-');
    cleanups.push(() => s.cleanup());
    const { db } = s;
    const add = (ts: number, actor: string, action: string, outcome: 'ok' | 'refused') =>
      recordAudit(db, { ts, actor, source: 'cli', action, outcome });
    expect(latestAuditActor(db, 'resume', 0)).toBeUndefined();
    add(1_000, 'cli:old', 'resume', 'ok');
    add(2_000, 'cli:ann', 'resume', 'ok');
    add(3_000, 'zulip:eve', 'resume', 'refused');
    add(4_000, 'cli:bob', 'stop', 'ok');
    expect(latestAuditActor(db, 'resume', 0)).toBe('cli:ann');
    expect(latestAuditActor(db, 'resume', 2_500)).toBeUndefined();
    expect(latestAuditActor(db, 'stop', 0)).toBe('cli:bob');
    expect(resumedBy(db, 7_000)).toBe('cli:ann');
    expect(resumedBy(db, 8_000)).toBe('someone');
  });
});
