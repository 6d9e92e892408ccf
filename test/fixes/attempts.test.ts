import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Attempt, decideAttempt, reopenPattern } from '../../src/fixes/attempts.js';
import { createFix } from '../../src/fixes/records.js';
import { gateTrigger } from '../../src/heal/trigger-gate.js';
import { openStore } from '../../src/store/open.js';

const MIN = 60_000;
const limits = { retryCooldownMinutes: 30, maxAttemptsPerPattern: 2 };
const at = (fixId: number, createdAt: number, state: Attempt['state'], rolledBackAt?: number): Attempt => ({
  fixId,
  createdAt,
  state,
  rolledBackAt,
});

describe('decideAttempt', () => {
  const now = 1_000 * MIN;
  it('allows a first attempt', () => {
    expect(decideAttempt({ attempts: [], holds: {}, now, limits })).toEqual({ kind: 'allow' });
  });
  it('waits retryCooldownMinutes after a rolled-back fix', () => {
    const attempts = [at(1, now - 40 * MIN, 'rolled_back', now - 10 * MIN)];
    expect(decideAttempt({ attempts, holds: {}, now, limits })).toEqual({
      kind: 'cooldown',
      until: now + 20 * MIN,
      afterFix: 1,
    });
    expect(decideAttempt({ attempts, holds: {}, now: now + 21 * MIN, limits }).kind).toBe('allow');
  });
  it('never starts a second fix while one is deployed or observed', () => {
    expect(decideAttempt({ attempts: [at(3, now - MIN, 'observing')], holds: {}, now, limits }).kind).toBe('in_flight');
  });
  it('escalates past maxAttemptsPerPattern in a day, and stays escalated until a human reopens', () => {
    const attempts = [
      at(1, now - 5 * 60 * MIN, 'rolled_back', now - 4 * 60 * MIN),
      at(2, now - 2 * 60 * MIN, 'failed'),
    ];
    expect(decideAttempt({ attempts, holds: {}, now, limits })).toEqual({ kind: 'escalate', attempts: 2 });
    expect(decideAttempt({ attempts, holds: { escalatedAt: now }, now: now + 48 * 60 * MIN, limits }).kind).toBe(
      'escalated',
    );
    expect(
      decideAttempt({ attempts, holds: { escalatedAt: now, reopenedAt: now + MIN }, now: now + 2 * MIN, limits }),
    ).toEqual({
      kind: 'allow',
    });
    // attempts older than a day no longer count
    expect(decideAttempt({ attempts, holds: {}, now: now + 23 * 60 * MIN, limits }).kind).toBe('allow');
  });
});

describe('gateTrigger over the store', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('escalates the third trigger of a day and lets a human reopen the pattern', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dancer-attempts-'));
    const db = openStore(path.join(dir, 'd.db'));
    const t0 = 10_000 * MIN;
    for (const i of [1, 2]) {
      createFix(db, { patternId: '7', patternHash: 'h', actor: 'detector', reason: 'r' }, t0 + i * MIN);
      db.prepare("UPDATE fixes SET state = 'failed' WHERE id = ?").run(i);
    }
    const first = gateTrigger(db, { patternId: '7', now: t0 + 5 * MIN, limits });
    expect(first).toMatchObject({ kind: 'skip', escalated: true });
    expect(gateTrigger(db, { patternId: '7', now: t0 + 600 * MIN, limits })).toMatchObject({ escalated: true });
    expect(reopenPattern(db, '7', 'human:ann', 'look again', t0 + 601 * MIN)).toBe(true);
    expect(gateTrigger(db, { patternId: '7', now: t0 + 602 * MIN, limits })).toEqual({ kind: 'consult' });
    db.close();
  });
});
