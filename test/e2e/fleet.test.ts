/**
 * The fleet end to end (issue 19): three real `dancer run` supervisors on loopback, each its own
 * clone of the shop with one shared bare remote, one real PostgreSQL 15 as the control plane
 * (each host through its own cuttable TCP proxy), one scripted model server for every host's real
 * Claude Code, and traffic to each host counting failed requests (test/fleet/cluster.ts).
 * Needs `npm run build` and Debian's `postgresql` package.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TrafficRequest } from '../../src/demo/traffic.js';
import type { ScenarioInput } from '../../src/testing/scenario.js';
import { GOOD_PRICING, goodFix, goodFixWith } from '../faults/agent.js';
import { shopTraffic } from '../faults/fixture.js';
import { Cluster } from '../fleet/cluster.js';

let cluster: Cluster | undefined;

afterEach(async (ctx) => {
  // DANCER_FLEET_TRACE=dir: every host's failed requests, timestamped supervisor log and deploys.
  const traceDir = process.env.DANCER_FLEET_TRACE;
  if (traceDir && cluster)
    cluster.trace(path.join(traceDir, `${Date.now()}-${ctx.task.name.slice(0, 40).replace(/\W+/g, '-')}`));
  await cluster?.stop();
  cluster = undefined;
}, 120_000);

/** Only requests the shop answers well (no sku-less request: the latent bug never shows). */
const healthyTraffic = (i: number): TrafficRequest =>
  i % 25 === 0
    ? { method: 'GET', path: '/healthz', kind: 'health' }
    : { method: 'GET', path: `/price?sku=${['a1', 'B2', 'c3'][i % 3]}`, kind: 'plain' };

/** The shop's error template on a host ("price failed", the sku-less TypeError), once captured. */
function bugTemplate(c: Cluster, host: string): { id: number; text: string } | undefined {
  return c
    .host(host)
    .stack.query<{ id: number; text: string }>(
      "SELECT id, text FROM templates WHERE text LIKE '%price failed%' ORDER BY id",
    )[0];
}

/** A failure message naming each failed request of `host` (when it was sent, why it failed). */
function failedWhy(stats: ReturnType<Cluster['trafficStats']>, host: string): string {
  const s = stats[host];
  const at = (s?.failedAt ?? []).map(
    (f) =>
      `${new Date(f.sentAt).toISOString()} ${f.reason} after ${f.at - f.sentAt} ms (${f.reused ? `reused connection idle ${f.idleMs} ms` : 'new connection'})`,
  );
  return `${host} failed requests: ${at.join('; ')}`;
}

/** A scenario whose every turn streams slowly: a consultation that stays in flight a long while. */
function slow(scenario: ScenarioInput, delayMs: number): ScenarioInput {
  return {
    ...scenario,
    turns: scenario.turns.map((t) => ('oneOf' in t ? t : { ...t, delayMs })),
  };
}

describe('fleet: a host cut off from PostgreSQL', () => {
  it('keeps serving with 0 failed requests, captures locally, and catches up', { timeout: 300_000 }, async () => {
    cluster = await Cluster.start({ scenario: goodFix() });
    const c = cluster;
    await c.startAll();
    await c.joined();
    c.startTraffic(healthyTraffic);
    const cutHost = c.host('web-3');
    const cutStack = cutHost.stack;

    await c.cut('web-3');
    await c.wait('web-3 to see the control plane gone', 30_000, () =>
      /control plane unreachable/.test(cutStack.log()) ? true : undefined,
    );
    const cutAt = Date.now();
    const servedBefore = cutStack.traffic?.stats().ok ?? 0;
    // The bug appears on the cut-off host only: it captures it and triggers locally, and the fleet
    // gate skips (no fleet action while cut off), queued in its outbox.
    cutStack.traffic?.setNext(shopTraffic);
    const queued = await c.wait('a fleet decision queued in web-3 outbox', 60_000, () => {
      const rows = cutStack.query<{ kind: string; payload: string; created_at: number }>(
        "SELECT kind, payload, created_at FROM fleet_outbox WHERE kind = 'decision'",
      );
      return rows.find((r) => /cut off from the control plane/.test(r.payload));
    });
    const template = bugTemplate(c, 'web-3');
    expect(template, cutStack.log()).toBeDefined();
    // Nothing of it reached PostgreSQL meanwhile (no other host has the bug).
    expect(await c.pg("SELECT id FROM fleet_templates WHERE text LIKE '%price failed%'")).toEqual([]);
    expect(await c.pg("SELECT id FROM fleet_decisions WHERE host = 'web-3'")).toEqual([]);
    // Back to healthy requests, then the captured count is final before the cut is restored.
    cutStack.traffic?.setNext(healthyTraffic);
    await new Promise((r) => setTimeout(r, 1500));
    // Every local template of the bug (the miner may split or widen one as lines arrive).
    const local = cutStack.query<{ n: number }>(
      `SELECT sum(b.count) AS n FROM template_buckets b JOIN templates t ON t.id = b.template_id
       WHERE t.text LIKE '%price failed%'`,
    )[0];
    expect(local?.n ?? 0).toBeGreaterThanOrEqual(10);
    expect(cutStack.traffic?.stats().ok ?? 0, 'web-3 kept answering while cut off').toBeGreaterThan(servedBefore + 20);

    await c.restore('web-3');
    const restoredAt = Date.now();
    // Its counts arrive (an exact catch-up: nothing lost, nothing doubled) ...
    await c.waitPg('web-3 counts of the bug in PostgreSQL', 60_000, async () => {
      const r = await c.pg<{ n: string | null }>(
        `SELECT sum(k.count) AS n FROM fleet_template_counts k JOIN fleet_templates t ON t.id = k.template_id
         WHERE k.host = 'web-3' AND t.text LIKE '%price failed%'`,
      );
      return Number(r[0]?.n ?? 0) === local!.n ? true : undefined;
    });
    // ... and its queued decisions, with the time they were taken (during the cut).
    const decisions = await c.waitPg('web-3 queued decisions in PostgreSQL', 30_000, async () => {
      const r = await c.pg<{ reason: string; at: Date }>(
        "SELECT reason, at FROM fleet_decisions WHERE host = 'web-3' AND reason LIKE '%cut off%' ORDER BY id",
      );
      return r.length > 0 ? r : undefined;
    });
    expect(decisions[0]!.at.getTime()).toBeGreaterThanOrEqual(queued.created_at - 1000);
    expect(decisions[0]!.at.getTime()).toBeLessThan(restoredAt);
    expect(decisions[0]!.at.getTime()).toBeGreaterThanOrEqual(cutAt - 1000);
    await c.wait('web-3 outbox to drain', 30_000, () =>
      cutStack.query('SELECT id FROM fleet_outbox').length === 0 ? true : undefined,
    );
    const [hb] = await c.pg<{ age: number }>(
      "SELECT EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 AS age FROM fleet_hosts WHERE name = 'web-3'",
    );
    expect(hb!.age).toBeLessThan(10);
    // No host consulted: the cut-off host took no fleet action, the others never saw the bug.
    expect(c.consultationsSeen()).toEqual([]);
    expect(await c.pg('SELECT id FROM fleet_consultations')).toEqual([]);
    const stats = c.trafficStats();
    for (const h of c.hosts) expect(stats[h.name]?.failed, failedWhy(stats, h.name)).toBe(0);
    expect(stats['web-3']?.serverErrors ?? 0).toBeGreaterThan(0); // the bug did answer 500s there
    if (process.env.DANCER_FLEET_TRACE) c.trace(path.join(process.env.DANCER_FLEET_TRACE, `${Date.now()}-cut-off`));
    const stray = await c.stop();
    cluster = undefined;
    expect(stray, 'processes left').toEqual([]);
  });
});

describe('fleet: the lease holder killed mid-consultation', () => {
  it('another host takes the lease after leaseSeconds and finishes the fix', { timeout: 360_000 }, async () => {
    const leaseSeconds = 15;
    // Every host re-triggers on the bug every few seconds, so a survivor asks again once the
    // dead holder's lease has expired.
    cluster = await Cluster.start({
      scenario: slow(goodFix(), 3000),
      leaseSeconds,
      overrides: { patterns: { triggers: { cooldownMinutes: 0.05 } } },
    });
    const c = cluster;
    await c.startAll();
    await c.joined();
    c.startTraffic(shopTraffic);

    // The first consultation is in flight at the model server: the holder is the host whose
    // worktree it runs in, and it holds the pattern's lease at stage `consulting`.
    const first = await c.wait('a consultation in flight', 120_000, () => c.consultationsSeen()[0]);
    const [lease] = await c.waitPg('the lease at stage consulting', 30_000, async () => {
      const r = await c.pg<{ pattern_key: string; holder: string; stage: string }>(
        "SELECT pattern_key, holder, stage FROM fleet_leases WHERE stage = 'consulting'",
      );
      return r.length > 0 ? r : undefined;
    });
    expect(lease!.holder, `${JSON.stringify(c.consultationsSeen())}\n${c.logs()}`).toBe(first.host);
    const dead = first.host;
    await c.host(dead).stack.traffic?.stop();
    await c.kill9(dead);
    const killedAt = Date.now();
    c.model.setScenario(goodFix()); // the successor's consultation at full speed

    // A survivor takes the lease over (only after it expired) and finishes the fix.
    const done = await c.waitPg('the fix finished by another host', 300_000, async () => {
      const r = await c.pg<{ holder: string; stage: string; takeovers: number; taken_at: Date }>(
        'SELECT holder, stage, takeovers, taken_at FROM fleet_leases WHERE pattern_key = $1',
        [lease!.pattern_key],
      );
      return r[0] && r[0].stage === 'done' ? r[0] : undefined;
    });
    expect(done.takeovers).toBe(1);
    expect(done.taken_at.getTime()).toBeGreaterThanOrEqual(killedAt + (leaseSeconds - 2) * 1000);
    const consultations = await c.pg<{
      host: string;
      outcome: string | null;
      details: { tookOverFrom: string | null };
    }>('SELECT host, outcome, details FROM fleet_consultations WHERE pattern_key = $1 ORDER BY id', [
      lease!.pattern_key,
    ]);
    const successorName = consultations[1]?.host ?? '';
    expect(successorName).not.toBe(dead);
    expect(consultations.map((r) => [r.host, r.outcome, r.details.tookOverFrom])).toEqual([
      [dead, null, null],
      [successorName, 'done', dead],
    ]);
    // The successor's own fix went through its gate and deployed; the third host never consulted.
    const successor = c.host(successorName).stack;
    const fix = await successor.fixIn(['deployed'], 60_000);
    expect(fix.state).toBe('deployed');
    const seen = c.consultationsSeen().map((s) => s.host);
    expect(seen).toEqual([dead, successorName]);
    const third = c.hosts.find((h) => h.name !== dead && h.name !== successorName)!;
    expect(third.stack.fixes()).toEqual([]);
    // No host lost a request: the survivors through the takeover and the successor's deploy, the
    // killed host up to the kill (its traffic stopped before it).
    const stats = c.trafficStats();
    for (const h of c.hosts) expect(stats[h.name]?.failed, failedWhy(stats, h.name)).toBe(0);
  });
});

/** The fleet fix once its rollout ended (`deployed`, `stopped` or `rolled_back`). */
async function rolloutEnded(c: Cluster, timeoutMs: number) {
  return c.waitPg(
    'the fleet rollout to end',
    timeoutMs,
    async () => {
      const r = await c.pg<{ id: number; state: string; branch: string; commit_sha: string; created_by: string }>(
        'SELECT id, state, branch, commit_sha, created_by FROM fleet_fixes ORDER BY id',
      );
      return r.find((f) => f.state !== 'rolling_out');
    },
    500,
  );
}

describe('fleet: the same bug on all three hosts', () => {
  it('one consultation, one fix branch, the canary first, then every host serves the fix with 0 failed requests', {
    timeout: 420_000,
  }, async () => {
    cluster = await Cluster.start({ scenario: goodFix() });
    const c = cluster;
    await c.startAll();
    await c.joined();
    c.startTraffic(shopTraffic);
    const fix = await rolloutEnded(c, 360_000);
    expect(fix.state, c.logs()).toBe('deployed');
    const firstError = Math.min(...c.hosts.map((h) => h.stack.traffic?.stats().firstServerErrorAt ?? Infinity));
    console.log(
      `fleet e2e: first error on any host -> rollout deployed on all 3: ${(Date.now() - firstError) / 1000} s`,
    );
    // One consultation (at the model server and in the fleet's ledger), one fix, one branch.
    const seen = c.consultationsSeen();
    expect(seen.map((s) => s.host)).toEqual([fix.created_by]);
    const consultations = await c.pg<{ host: string; outcome: string }>(
      'SELECT host, outcome FROM fleet_consultations',
    );
    expect(consultations).toEqual([{ host: fix.created_by, outcome: 'done' }]);
    expect(await c.pg('SELECT id FROM fleet_fixes')).toHaveLength(1);
    // One fix branch on the shared remote, and the fix's merge commit there (every host fetched it).
    expect(c.remoteFixBranches()).toHaveLength(1);
    expect(() =>
      execFileSync('git', ['cat-file', '-e', `${fix.commit_sha}^{commit}`], { cwd: c.remote }),
    ).not.toThrow();
    // The canary is the host that made the fix; it deployed before any other host started.
    const deploys = await c.deploys();
    expect(deploys.map((d) => [d.host, d.state]).sort()).toEqual(c.hosts.map((h) => [h.name, 'deployed']));
    const canary = deploys.filter((d) => d.wave === 0).map((d) => d.host);
    expect(canary).toEqual([fix.created_by]);
    const events = await c.fixEvents();
    const canaryDeployed = events.find((e) => e.host === fix.created_by && e.event === 'deployed');
    expect(canaryDeployed, JSON.stringify(events)).toBeDefined();
    for (const h of c.hosts.filter((x) => x.name !== fix.created_by)) {
      const started = events.find((e) => e.host === h.name && e.event === 'deploying');
      expect(started, `${h.name} deploying`).toBeDefined();
      expect(started!.id).toBeGreaterThan(canaryDeployed!.id);
    }
    // Every host serves the fix (the bug's request answers 200), from the same commit.
    expect(await c.servingFix()).toEqual(c.hosts.map((h) => h.name));
    const tree = c.host(fix.created_by).stack.git(['rev-parse', `${fix.commit_sha}^{tree}`]);
    for (const h of c.hosts) {
      expect(h.stack.currentRelease() ?? '', h.name).toBe(tree.slice(0, (h.stack.currentRelease() ?? '').length || 12));
    }
    const stats = c.trafficStats();
    for (const h of c.hosts) expect(stats[h.name]?.failed, failedWhy(stats, h.name)).toBe(0);
  });
});

describe('fleet: a wrong fix', () => {
  it('stops at the canary and is rolled back there only', { timeout: 420_000 }, async () => {
    // Passes the gate, but in production a c3 price throws a new error: the canary's window fails.
    const range = GOOD_PRICING.replace(
      'return TABLE[sku.toLowerCase()];',
      "if (process.env.NODE_ENV === 'production' && sku === 'c3') throw new RangeError('no price table for ' + sku);\n  return TABLE[sku.toLowerCase()];",
    );
    cluster = await Cluster.start({ scenario: goodFixWith({ 'lib/pricing.mjs': range }, 'Price without a sku: 0') });
    const c = cluster;
    await c.startAll();
    await c.joined();
    c.startTraffic(shopTraffic);
    const fix = await rolloutEnded(c, 360_000);
    expect(fix.state, c.logs()).toMatch(/stopped|rolled_back/);
    const deploys = await c.deploys();
    const canary = fix.created_by;
    expect(deploys.find((d) => d.host === canary)?.state).toBe('rolled_back');
    for (const d of deploys.filter((x) => x.host !== canary)) expect(d.state, d.host).toBe('skipped');
    // The canary rolled back (its local fix too); the others never deployed anything.
    const holder = c.host(canary).stack;
    await holder.fixIn(['rolled_back'], 120_000);
    expect(holder.deploys().map((d) => d.kind)).toContain('rollback');
    for (const h of c.hosts.filter((x) => x.name !== canary)) {
      expect(h.stack.deploys(), `${h.name} deploys`).toEqual([]);
      expect(h.stack.fixes(), `${h.name} fixes`).toEqual([]);
    }
    expect(c.consultationsSeen().map((s) => s.host)).toEqual([canary]);
    // No host lost a request: the canary through its deploy and its rollback, the others throughout.
    const stats = c.trafficStats();
    for (const h of c.hosts) expect(stats[h.name]?.failed, failedWhy(stats, h.name)).toBe(0);
  });
});
