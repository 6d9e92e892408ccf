/**
 * Status and Prometheus read other stages' tables only through those stages' queries (issue 14):
 * fixes in flight and fix counts from fixes/, pattern counts from patterns/, consultations from
 * consult/. Real SQLite store, real fixes walked through the state machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { fixCountsByState, IN_FLIGHT_STATES, inFlightFixRows } from '../../src/fixes/index.js';
import { applyEvent, createFix } from '../../src/fixes/records.js';
import { openStore, tableExists } from '../../src/store/index.js';
import { statusFromStore } from '../../src/supervise/index.js';
import { buildRegistry } from '../../src/supervise/prometheus.js';

const root = mkdtempSync(path.join(tmpdir(), 'dancer-stage-queries-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const T0 = 1_700_000_000_000;

describe('stage queries behind status and /metrics', () => {
  it('answer on a store without the tables (an empty database)', () => {
    const db = new Database(path.join(root, 'empty.db'));
    expect(tableExists(db, 'fixes')).toBe(false);
    expect(inFlightFixRows(db)).toBeNull();
    expect(fixCountsByState(db)).toEqual([]);
    db.close();
  });

  it('list in-flight fixes (not terminal, not deployed) and count every state', async () => {
    const db = openStore(path.join(root, 'dancer.db'));
    expect(tableExists(db, 'fixes')).toBe(true);
    const fix = (p: string) =>
      createFix(db, { patternId: p, patternHash: p, actor: 'detector', reason: 'test' }, T0).id;
    const proposed = fix('1');
    const testing = fix('2');
    applyEvent(db, testing, { event: 'submit', actor: 'agent', reason: 'diff' }, T0 + 1);
    const failed = fix('3');
    applyEvent(db, failed, { event: 'fail', actor: 'gate', reason: 'red' }, T0 + 2);
    const rejected = fix('4');
    applyEvent(db, rejected, { event: 'reject', actor: 'human:ann', reason: 'no' }, T0 + 3);

    expect(IN_FLIGHT_STATES).not.toContain('deployed');
    expect(IN_FLIGHT_STATES).toContain('observing');
    const rows = inFlightFixRows(db) ?? [];
    expect(rows.map((r) => r.id)).toEqual([testing, proposed]);
    expect(fixCountsByState(db)).toEqual([
      { state: 'failed', count: 1 },
      { state: 'proposed', count: 1 },
      { state: 'rejected', count: 1 },
      { state: 'testing', count: 1 },
    ]);
    expect(statusFromStore(db, 'shop').openFixes?.map((r) => r.id)).toEqual([testing, proposed]);

    const registry = buildRegistry(db, () => ({
      service: 'shop',
      up: true,
      state: 'running',
      restarts: 0,
      supervisorRssBytes: 1,
      emergencyStop: false,
    }));
    const text = await registry.metrics();
    expect(text).toContain('dancer_fixes{state="failed"} 1');
    expect(text).toContain('dancer_fixes{state="testing"} 1');
    expect(text).toMatch(/dancer_consultations 0/);
    db.close();
  });
});
