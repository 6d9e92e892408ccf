/**
 * A short lease (`leaseSeconds: 6`) survives its holder's consultation. The first import of the
 * Claude Agent SDK blocks a process's event loop in one piece; when it came with the first
 * consultation, the heartbeat that renews the holder's lease stalled with it and a live holder
 * lost its lease. `dancer run` now loads the SDK before the fleet starts (src/cli/run.ts,
 * `preloadAgentSdk`), as this host does. Real parts: PostgreSQL 15 (a trigger records every write
 * to the lease and whether the lease had already expired when it came), git, the supervisor and
 * its workers, the real Claude Code binary against the scripted model server, the real gate. The
 * event loop's longest stall is measured (perf_hooks) and printed.
 *
 * And the other side: a holder whose event loop hangs longer than `leaseSeconds` loses its lease
 * (nothing renews it from another thread), and another host takes it over.
 * Needs `npm run build` first (the service imports dist/supervise/listen.js).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { preloadAgentSdk } from '../../src/consult/index.js';
import { startFleetAgent } from '../../src/fleet/agent.js';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { acquireLease } from '../../src/fleet/leases.js';
import { startFleetService } from '../../src/fleet/service.js';
import { startHealingLoop } from '../../src/heal/loop.js';
import { runService } from '../../src/heal/run-service.js';
import type { TriggerEvent } from '../../src/patterns/detector.js';
import { openStore } from '../../src/store/open.js';
import { type ModelServer, startModelServer } from '../../src/testing/model-server.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PRICING, PRICING_TEST, pricingFixScenario } from '../e2e/pricing-service.js';
import { expectGone, waitFor } from '../supervise/helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LISTEN = path.join(ROOT, 'dist/supervise/listen.js');

/** A price service with a refresh job that prices the catalogue every 100 ms (one item has no sku). */
const SERVER = `import http from 'node:http';
import { listen } from ${JSON.stringify(LISTEN)};
import { price } from './pricing.mjs';
const log = (level, msg, extra = {}) => process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, ...extra }) + '\\n');
const release = process.env.DANCER_RELEASE ?? '';
setInterval(() => {
  for (const sku of ['a1', null, 'b2']) {
    try { price(sku); log(30, 'priced ' + sku); }
    catch (err) { log(50, err.message, { err: { type: err.constructor.name, message: err.message } }); }
  }
}, 100);
await listen(http.createServer((req, res) => {
  if (req.url === '/healthz') return void res.writeHead(200).end();
  res.end(release + '\\n');
}));
`;
const GOOD_PRICING = `const TABLE = { a1: 10, b2: 20 };
export function price(sku) {
  if (!sku) return 0;
  return TABLE[sku.toLowerCase()];
}
`;
function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'T',
      GIT_AUTHOR_EMAIL: 't@e',
      GIT_COMMITTER_NAME: 'T',
      GIT_COMMITTER_EMAIL: 't@e',
    },
  }).trim();
}

let pg: TestPostgres;
let model: ModelServer;

beforeAll(async () => {
  pg = await startPostgres();
  model = await startModelServer({ scenario: { turns: [] } });
}, 60_000);
afterAll(async () => {
  await model?.close();
  await pg?.stop();
});

/** Record every write to a lease: who held it, and whether it had expired when the write came. */
async function auditLeases(pool: FleetPool): Promise<void> {
  await pool.query(`
    CREATE TABLE lease_writes (at timestamptz NOT NULL DEFAULT clock_timestamp(), pattern_key text,
      old_holder text, new_holder text, stage text, was_expired boolean, takeovers int);
    CREATE FUNCTION log_lease_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO lease_writes (pattern_key, old_holder, new_holder, stage, was_expired, takeovers)
      VALUES (NEW.pattern_key, OLD.holder, NEW.holder, NEW.stage,
        OLD.holder IS NOT NULL AND OLD.expires_at < clock_timestamp(), NEW.takeovers);
      RETURN NEW;
    END $$;
    CREATE TRIGGER lease_writes AFTER UPDATE ON fleet_leases FOR EACH ROW EXECUTE FUNCTION log_lease_write();
  `);
}

describe('a 6 s lease and the consultation', () => {
  it("survives its holder's consultation (the SDK was loaded before the fleet started)", {
    timeout: 300_000,
  }, async () => {
    model.setScenario(
      pricingFixScenario({
        pricing: GOOD_PRICING,
        summary: 'An item without a sku costs 0',
        read: ['pricing.mjs'],
        analysis: 'price(null) calls toLowerCase on null: a TypeError in the refresh job.',
        rootCause: 'The catalogue has an item without a sku.',
      }),
    );
    const url = await pg.createDatabase('lease_stall');
    const pool = openFleetPool(url);
    await migrateFleet(pool);
    await auditLeases(pool);
    const root = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-stall-'));
    const repo = path.join(root, 'h1');
    mkdirSync(path.join(repo, 'test'), { recursive: true });
    sh(repo, 'init', '-q', '-b', 'main');
    writeFileSync(path.join(repo, '.gitignore'), '.dancer/\ndancer.yaml\n');
    writeFileSync(path.join(repo, 'server.mjs'), SERVER);
    writeFileSync(path.join(repo, 'pricing.mjs'), PRICING);
    writeFileSync(path.join(repo, 'test/pricing.test.mjs'), PRICING_TEST);
    sh(repo, 'add', '-A');
    sh(repo, 'commit', '-q', '-m', 'price service');
    const bare = path.join(root, 'remote.git');
    execFileSync('git', ['clone', '-q', '--bare', repo, bare]);
    sh(repo, 'remote', 'add', 'origin', bare);
    sh(repo, 'fetch', '-q', 'origin');
    writeFileSync(
      path.join(repo, 'dancer.yaml'),
      stringify({
        service: {
          name: 'shop',
          start: 'node server.mjs',
          cwd: '.',
          releasesDir: '.dancer/releases',
          listen: [{ name: 'http', port: 0, host: '127.0.0.1' }],
          readiness: { http: { path: '/healthz' }, timeoutSeconds: 20 },
          drainSeconds: 1,
          observe: { windowSeconds: 3, baselineSeconds: 60, checkEverySeconds: 0.5, minRecords: 5, minErrors: 3 },
        },
        store: { path: '.dancer/dancer.db', batch: { maxDelayMs: 100 } },
        capture: { tee: 'none' },
        patterns: {
          triggers: {
            newPattern: { enabled: false },
            spike: { enabled: false },
            crash: { enabled: false },
            review: { enabled: false },
          },
        },
        consult: {
          model: 'claude-sonnet-4-5',
          baseUrl: model.url,
          routine: { maxTurns: 20, timeoutSeconds: 300 },
          urgent: { maxTurns: 20, timeoutSeconds: 300 },
        },
        fixes: {
          worktreeBase: '.dancer/worktrees',
          pushRemote: 'origin',
          gate: {
            steps: [{ name: 'test', run: 'node --test test/' }],
            stepTimeoutSeconds: 120,
            regression: { command: 'node --test {file}', timeoutSeconds: 120 },
          },
        },
        policy: { autoApprove: 'low', maxFiles: 5, maxLines: 120 },
        fleet: { postgres: { urlEnv: 'DANCER_FLEET_URL' }, host: 'h1', canary: 1, waveSize: 1, leaseSeconds: 6 },
      }),
    );
    const loaded = loadConfig({ file: path.join(repo, 'dancer.yaml') });
    const logs: string[] = [];
    const pids = new Set<number>();
    const log = (m: string) => {
      logs.push(m);
      const pid = /started worker pid (\d+)/.exec(m);
      if (pid) pids.add(Number(pid[1]));
    };
    // What `dancer run` does with a fleet section, in its order: the SDK first, then the service and the fleet.
    const stall = monitorEventLoopDelay({ resolution: 10 });
    stall.enable();
    const preloadMs = await preloadAgentSdk();
    await new Promise((r) => setTimeout(r, 50)); // the histogram records a stall when its timer runs late
    const preloadStallMs = stall.max / 1e6;
    stall.reset();
    const running = await runService({ loaded, signals: false, log });
    const fleet = startFleetService({
      settings: loaded.config.fleet as NonNullable<typeof loaded.config.fleet>,
      db: running.db,
      supervisor: running.supervisor,
      repo,
      remote: 'origin',
      cooldownMinutes: loaded.config.fixes.retryCooldownMinutes,
      env: { DANCER_FLEET_URL: url },
      log: (m) => logs.push(`fleet: ${m}`),
    });
    const loop = startHealingLoop({
      running,
      loaded,
      pollMs: 100,
      env: { PATH: process.env.PATH, ANTHROPIC_API_KEY: 'sk-test', CLAUDE_CODE_MAX_RETRIES: '0' },
      log,
      fleetGate: fleet.gate,
      fleetPipeline: fleet.pipeline,
    });
    const dump = () => logs.slice(-60).join('\n');
    try {
      await fleet.ready();
      let templateId: number | undefined;
      await waitFor(
        () => {
          const row = running.db
            .prepare("SELECT id FROM templates WHERE text LIKE '%toLowerCase%' ORDER BY id")
            .get() as { id: number } | undefined;
          templateId = row?.id;
          return templateId !== undefined;
        },
        30_000,
        'the bug mined',
      );
      stall.reset();
      const trigger: TriggerEvent = {
        id: 't-h1',
        kind: 'new_pattern',
        templateId,
        urgent: false,
        numbers: {},
        reason: 'the refresh job fails on an item without a sku',
        at: Date.now(),
        decisionId: 0,
      };
      running.detector?.emit('trigger', trigger);
      await waitFor(
        async () => {
          const r = await pool.query(
            "SELECT state FROM fleet_fixes WHERE state IN ('rolling_out', 'deployed', 'stopped')",
          );
          return r.rows.length > 0;
        },
        240_000,
        'the fix rolled out',
      );
      const consultationStallMs = stall.max / 1e6;
      process.stderr.write(
        `lease-stall: SDK preload ${Math.round(preloadMs)} ms (event loop blocked ${Math.round(preloadStallMs)} ms, before the fleet started); longest stall from the trigger to the rollout ${Math.round(consultationStallMs)} ms (lease 6 s, heartbeat every 1.5 s)\n`,
      );
      expect(model.requests.length, dump()).toBeGreaterThan(0);
      const writes = (
        await pool.query<{
          old_holder: string | null;
          new_holder: string | null;
          stage: string;
          was_expired: boolean;
          takeovers: number;
        }>('SELECT old_holder, new_holder, stage, was_expired, takeovers FROM lease_writes ORDER BY at')
      ).rows;
      // The lease was written to many times (renewals, stages) and never after it had expired.
      expect(writes.length, dump()).toBeGreaterThan(3);
      expect(
        writes.filter((w) => w.was_expired),
        dump(),
      ).toEqual([]);
      expect(new Set(writes.map((w) => w.takeovers))).toEqual(new Set([0]));
      expect(writes.map((w) => w.stage)).toContain('rolling_out');
      expect(logs.filter((l) => l.includes('no longer holds the lease'))).toEqual([]);
    } finally {
      stall.disable();
      await loop.stop();
      await fleet.stop();
      await running.stop();
      await pool.end();
      await expectGone([...pids]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a holder whose event loop hangs longer than its lease loses it to another host', {
    timeout: 60_000,
  }, async () => {
    const url = await pg.createDatabase('lease_hang');
    const pool = openFleetPool(url);
    await migrateFleet(pool);
    const root = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-hang-'));
    const db = openStore(path.join(root, 'a.db'));
    const agent = startFleetAgent({ pool, db, host: 'a', leaseSeconds: 2, log: () => undefined });
    try {
      await agent.tick();
      expect(
        (await acquireLease(pool, { patternKey: 'p', host: 'a', leaseSeconds: 2, reopenAfterSeconds: 60 })).kind,
      ).toBe('acquired');
      // Renewed while the loop runs: after three lease periods it is still a's.
      await new Promise((r) => setTimeout(r, 6000));
      expect(
        (await acquireLease(pool, { patternKey: 'p', host: 'b', leaseSeconds: 2, reopenAfterSeconds: 60 })).kind,
      ).toBe('held');
      // a hangs (a synchronous wait on the main thread) for longer than its lease.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3500);
      const taken = await acquireLease(pool, { patternKey: 'p', host: 'b', leaseSeconds: 2, reopenAfterSeconds: 60 });
      expect(taken).toMatchObject({ kind: 'acquired', lease: { tookOverFrom: 'a' } });
    } finally {
      await agent.stop();
      db.close();
      await pool.end();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
