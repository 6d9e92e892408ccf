/**
 * `dancer consultations list|show ID [--transcript] [--json]` and the provenance chain in
 * `dancer fixes show`, through the built CLI over a real store (with a deploy and its verdict).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvent } from '../../src/fixes/records.js';
import { SECRET, seededStore } from '../dashboard/helpers.js';

const BIN = fileURLToPath(new URL('../../bin/dancer.js', import.meta.url));
const store = seededStore('dancer-cli-consult-');
const MERGE = 'a'.repeat(40);

beforeAll(() => {
  if (!existsSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)))) {
    throw new Error('dist/ is missing: run npm run build before the CLI tests');
  }
  const { db, fix } = store;
  applyEvent(db, fix.id, { event: 'approve', actor: 'human:alice', reason: 'ok' }, Date.now());
  applyEvent(
    db,
    fix.id,
    {
      event: 'deploy',
      actor: 'git',
      reason: 'merged',
      fields: { mergeCommit: MERGE, branch: 'dancer/fix-20261206-1200-abcdef12', beforeTag: 'dancer-before-1' },
    },
    Date.now(),
  );
  const verdict = {
    verdict: 'pass',
    reasons: ['error rate 0.00/min vs baseline 12.00/min'],
    baseline: {
      durationMs: 60_000,
      records: 600,
      errors: 12,
      targetCount: 12,
      p95LatencyMs: 40,
      maxRssBytes: 100 * 1048576,
      crashes: 0,
    },
    window: {
      durationMs: 30_000,
      records: 300,
      errors: 0,
      targetCount: 0,
      p95LatencyMs: 38,
      maxRssBytes: 102 * 1048576,
      crashes: 0,
    },
  };
  db.prepare(
    `INSERT INTO deploys (service, kind, from_release, to_release, fix_id, status, started_at, finished_at, verdict)
     VALUES ('shop', 'deploy', 'b', ?, ?, 'succeeded', ?, ?, ?)`,
  ).run(MERGE, fix.id, Date.now() - 30_000, Date.now(), JSON.stringify(verdict));
  db.close();
});
afterAll(() => store.cleanup());

function dancer(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--db', store.file], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    cwd: store.dir,
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('dancer consultations', () => {
  it('lists consultations with cost and the fixes they produced', () => {
    const json = dancer('consultations', 'list', '--json');
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({
        id: 1,
        status: 'succeeded',
        outcomeKind: 'fix',
        costUsd: 0.0123,
        turns: 3,
        fixes: [store.fix.id],
      }),
    ]);
    const text = dancer('consultations');
    expect(text.stdout).toMatch(/^ID\s+CREATED/m);
    expect(text.stdout).toContain('$0.0123');
  });

  it('shows one with its provenance; --transcript adds the conversation, redacted', () => {
    const plain = dancer('consultations', 'show', '1');
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('Consultation 1');
    expect(plain.stdout).toContain(`-> fix ${store.fix.id}: deploying`);
    expect(plain.stdout).toContain(`-> release ${MERGE.slice(0, 12)}`);
    expect(plain.stdout).not.toContain('I found the key');

    const full = dancer('consultations', 'show', '1', '--transcript');
    expect(full.stdout).toContain('I found the key');
    expect(full.stdout).toContain('[tool Edit]');
    expect(full.stdout).not.toContain(SECRET);

    const json = JSON.parse(dancer('consultations', 'show', '1', '--transcript', '--json').stdout);
    expect(json.transcript).toHaveLength(3);
    expect(json.provenance[0]).toMatchObject({ release: MERGE, consultation: { id: 1 } });
    expect(JSON.stringify(json)).not.toContain(SECRET);
    expect(JSON.parse(dancer('consultations', 'show', '1', '--json').stdout).transcript).toBeUndefined();

    const missing = dancer('consultations', 'show', '99');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('DANCER_NOT_FOUND');
  });

  it('dancer fixes show prints the whole chain: pattern, consultation and cost, branch, release, deploys with before/after', () => {
    const r = dancer('fixes', 'show', String(store.fix.id));
    expect(r.status, r.stderr).toBe(0);
    const chain = r.stdout.slice(r.stdout.indexOf('Provenance'), r.stdout.indexOf('History'));
    expect(chain).toContain('pattern 7: cart total failed <*>');
    expect(chain).toContain('-> consultation 1: succeeded, outcome fix, auto, claude-test, $0.0123, 3 turns');
    expect(chain).toContain('-> branch dancer/fix-20261206-1200-abcdef12');
    expect(chain).toContain(`-> release ${MERGE.slice(0, 12)}`);
    expect(chain).toMatch(/-> deploy #1 deploy a{12} succeeded \(verdict pass\)/);
    expect(chain).toMatch(/error rate\s+12\.00\/min ->\s+0\.00\/min\s+-100%/);
    expect(chain).toMatch(/RSS\s+100\.0 MiB ->\s+102\.0 MiB\s+\+2%/);
    const json = JSON.parse(dancer('fixes', 'show', String(store.fix.id), '--json').stdout);
    expect(json.provenance.deploys[0]).toMatchObject({
      verdict: 'pass',
      before: { errorRate: 12 },
      after: { errorRate: 0 },
    });
  });
});
