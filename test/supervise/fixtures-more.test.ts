import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isDancerError } from '../../src/errors.js';
import { FIXTURES, get, type Harness, harness, makeServiceDir, waitFor } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('more fixtures', () => {
  it('a reload whose new worker never becomes ready keeps the old one serving', async () => {
    const dir = makeServiceDir({
      start: `node ${path.join(FIXTURES, 'switch.mjs')}`,
      readiness: { http: { path: '/healthz' }, timeoutSeconds: 1.5 },
    });
    writeFileSync(path.join(dir, 'behaviour'), 'http.mjs');
    h = harness(dir);
    await h.sup.start();
    const old = h.sup.currentPid!;
    writeFileSync(path.join(dir, 'behaviour'), 'never-ready.mjs');
    const error = await h.sup.reload().catch((e: unknown) => e);
    expect(isDancerError(error, 'DANCER_NOT_READY')).toBe(true);
    expect(h.sup.currentPid).toBe(old);
    for (let i = 0; i < 5; i++) expect((await get(h.port(), '/pid')).body).toMatch(new RegExp(`^${old} `));
    expect(h.sup.store.listDeploys('svc', 1)[0]).toMatchObject({ kind: 'reload', status: 'failed' });
  });

  it('samples the worker tree from /proc: a leaking worker shows a growing RSS in metrics', async () => {
    h = harness(makeServiceDir({ start: `node ${path.join(FIXTURES, 'leak.mjs')}`, env: { LEAK_MB: '8' } }));
    await h.sup.start();
    const rows = await waitFor(
      () => {
        const r = h!.sup.store.db
          .prepare("SELECT value FROM metrics WHERE scope = 'worker' AND name = 'rss_bytes' ORDER BY ts")
          .all() as Array<{ value: number }>;
        return r.length >= 2 && r[r.length - 1]!.value - r[0]!.value > 40 * 1048576 ? r : undefined;
      },
      15_000,
      'RSS growth',
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const names = h.sup.store.db.prepare("SELECT DISTINCT name FROM metrics WHERE scope = 'worker'").all() as Array<{
      name: string;
    }>;
    expect(names.map((n) => n.name).sort()).toEqual(['cpu_percent', 'fds', 'rss_bytes', 'threads']);
    expect(h.sup.status().metrics?.rssBytes).toBeGreaterThan(40 * 1048576);
  });
});
