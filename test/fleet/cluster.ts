/**
 * A real three-host fleet on loopback for the fleet's end-to-end tests and bench/fleet.mjs: one
 * real PostgreSQL 15 (src/testing/postgres.ts), one shared bare git remote of the fault suite's
 * shop, three clones of it, each supervised by its own `dancer run` (test/faults/fixture.ts's
 * ShopStack: its own port, store, releases and fix worktrees in temp dirs), one scripted model
 * server shared by all, and per host a TCP proxy between the host and PostgreSQL that a test can
 * cut and restore (a network partition of that host alone). Traffic to each host counts failed
 * requests (no HTTP answer) apart from the service's own 500s.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Traffic, TrafficRequest, TrafficStats } from '../../src/demo/traffic.js';
import { type ModelServer, startModelServer } from '../../src/testing/model-server.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { type ScenarioInput, workingDirectory } from '../../src/testing/scenario.js';
import { startTcpProxy, type TcpProxy } from '../../src/testing/tcp-proxy.js';
import { type StrayProcess, waitFor } from '../e2e/helpers.js';
import { ShopStack, shopTraffic } from '../faults/fixture.js';

/** The default host names (sorted: the rollout's later waves go in host-name order). */
export const HOSTS = ['web-1', 'web-2', 'web-3'] as const;

/** Options of {@link Cluster.start}. */
export interface ClusterOptions {
  /** What the shared scripted model says (every host's Claude Code talks to the same server). */
  scenario: ScenarioInput;
  hosts?: readonly string[];
  /**
   * `fleet.leaseSeconds` (short in tests, so a dead holder's lease passes on quickly). Default 15:
   * on a loaded 2-core machine a live holder's heartbeat was measured stalling up to ~7 s while its
   * consultation starts, and a shorter lease then passes to another host under a live holder.
   */
  leaseSeconds?: number;
  /** dancer.yaml overrides for every host (merged over the fault suite's shop config). */
  overrides?: Record<string, unknown>;
  /** Without the `fleet:` section (three independent hosts: the baseline of bench/fleet.mjs). */
  noFleet?: boolean;
}

/** One host of the cluster. */
export interface ClusterHost {
  name: string;
  stack: ShopStack;
  /** The host's only way to PostgreSQL. */
  proxy: TcpProxy;
}

/** A row of fleet_deploys. */
export interface FleetDeployRow {
  fix_id: number;
  host: string;
  wave: number;
  state: string;
  release: string | null;
  updated_at: Date;
}

/** Three supervisors, one PostgreSQL, one bare remote, one model server. */
export class Cluster {
  private constructor(
    readonly root: string,
    readonly postgres: TestPostgres,
    /** The fleet database's URL (direct, not through a host's proxy). */
    readonly url: string,
    readonly pool: pg.Pool,
    /** The shared bare git remote (`fixes.pushRemote` of every host: their `origin`). */
    readonly remote: string,
    readonly model: ModelServer,
    readonly hosts: ClusterHost[],
  ) {}

  /** Make everything; the supervisors are not started yet ({@link startAll}). */
  static async start(o: ClusterOptions): Promise<Cluster> {
    const root = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-e2e-'));
    const cleanup: Array<() => Promise<unknown>> = [];
    try {
      const postgres = await startPostgres();
      cleanup.push(() => postgres.stop());
      const url = await postgres.createDatabase('fleet_e2e');
      const pool = new pg.Pool({ connectionString: url, max: 3 });
      pool.on('error', () => undefined); // an idle client losing the server at the end
      cleanup.push(() => pool.end());
      const model = await startModelServer({
        scenario: o.scenario,
        recordFile: path.join(root, 'model-requests.jsonl'),
      });
      cleanup.push(() => model.close());
      const remote = path.join(root, 'shop.git');
      execFileSync('git', ['clone', '-q', '--bare', ShopStack.templateRepo(), remote]);
      const hosts: ClusterHost[] = [];
      for (const name of o.hosts ?? HOSTS) {
        const proxy = await startTcpProxy(postgres.port);
        cleanup.push(() => proxy.close());
        const fleet = o.noFleet
          ? {}
          : { fleet: { host: name, leaseSeconds: o.leaseSeconds ?? 15, canary: 1, waveSize: 1 } };
        const stack = await ShopStack.create(
          o.scenario,
          { ...fleet, ...(o.overrides ?? {}) },
          {
            model,
            cloneFrom: remote,
            parentDir: root,
            overridesFor: (dir) => ({
              fixes: { pushRemote: 'origin', worktreeBase: path.join(dir, 'worktrees') },
            }),
          },
        );
        stack.timestamps = true;
        stack.extraEnv = { DANCER_FLEET_URL: url.replace(`:${postgres.port}/`, `:${proxy.port}/`) };
        hosts.push({ name, stack, proxy });
      }
      return new Cluster(root, postgres, url, pool, remote, model, hosts);
    } catch (error) {
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }

  /** The host named `name`. */
  host(name: string): ClusterHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Start every `dancer run` (at once) and wait until each service answers. */
  async startAll(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.stack.startSupervisor()));
  }

  /** Wait until every host has a fresh heartbeat in PostgreSQL (its fleet side joined). */
  async joined(timeoutMs = 60_000): Promise<void> {
    await this.waitPg('every host to join the fleet', timeoutMs, async () => {
      const r = await this.pg<{ n: string }>(
        `SELECT count(*) AS n FROM fleet_hosts WHERE heartbeat_at > now() - interval '10 seconds' AND state = 'up'`,
      ).catch(() => [{ n: '0' }]);
      return Number(r[0]?.n) >= this.hosts.length ? true : undefined;
    });
  }

  /** Start traffic on every host (the shop's mix: a quarter of it hits the latent bug by default). */
  startTraffic(next: (i: number) => TrafficRequest = shopTraffic, ratePerSecond = 20): Traffic[] {
    return this.hosts.map((h) => h.stack.startTraffic(next, ratePerSecond));
  }

  /** Each host's traffic counts, by host name. */
  trafficStats(): Record<string, TrafficStats | undefined> {
    return Object.fromEntries(this.hosts.map((h) => [h.name, h.stack.traffic?.stats()]));
  }

  /** Requests that got no HTTP answer at all, summed over the hosts. */
  failedRequests(): number {
    return this.hosts.reduce((n, h) => n + (h.stack.traffic?.stats().failed ?? 0), 0);
  }

  /** Cut `name` off PostgreSQL (its open connections dropped, new ones refused). */
  async cut(name: string): Promise<void> {
    await this.host(name).proxy.cut('refuse');
  }

  /** Give `name` its PostgreSQL back. */
  async restore(name: string): Promise<void> {
    await this.host(name).proxy.restore();
  }

  /** kill -9 the supervisor of `name` (its service workers and Claude Code are left to die). */
  async kill9(name: string): Promise<void> {
    await this.host(name).stack.killSupervisor();
  }

  /** A query on the fleet database. */
  async pg<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }

  /** Poll an async check until it returns a value, or throw with every host's log tail. */
  async waitPg<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      for (const h of this.hosts) {
        const sup = h.stack.supervisor;
        if (sup && sup.exitCode !== null && sup.signalCode === null) {
          throw new Error(`${h.name}: dancer run exited with ${sup.exitCode}:\n${h.stack.log()}`);
        }
      }
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** Wait for a synchronous condition (e.g. on a host's store). */
  wait<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
    return waitFor(what, timeoutMs, check).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.logs()}`);
    });
  }

  /**
   * The consultations the shared model server saw, by the fix worktree each ran in (one worktree
   * per consultation; every host's worktrees are under its own folder).
   */
  consultationsSeen(): Array<{ host: string; cwd: string }> {
    const seen = new Map<string, string>();
    for (const r of this.model.mainLoopRequests()) {
      const cwd = r.body && workingDirectory(r.body);
      if (!cwd || seen.has(cwd)) continue;
      seen.set(cwd, this.hosts.find((h) => cwd.startsWith(`${h.stack.root}/`))?.name ?? '?');
    }
    return [...seen].map(([cwd, host]) => ({ host, cwd }));
  }

  /** The rows of fleet_deploys, oldest change first. */
  deploys(): Promise<FleetDeployRow[]> {
    return this.pg<FleetDeployRow>('SELECT * FROM fleet_deploys ORDER BY fix_id, updated_at, host');
  }

  /** The `dancer/fix-*` branches on the shared remote. */
  remoteFixBranches(): string[] {
    const out = execFileSync('git', ['for-each-ref', '--format=%(refname:short)', 'refs/heads/dancer/fix-*'], {
      cwd: this.remote,
      encoding: 'utf8',
    });
    return out.split('\n').filter(Boolean);
  }

  /**
   * The hosts whose service answers a sku-less price request with 200 now (the shop's bug fixed:
   * the fix's release serves there). `hosts` defaults to every host.
   */
  async servingFix(hosts: readonly ClusterHost[] = this.hosts): Promise<string[]> {
    const ok = await Promise.all(
      hosts.map(async (h) => {
        try {
          const res = await fetch(`http://127.0.0.1:${h.stack.port}/price`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          return res.status === 200;
        } catch {
          return false;
        }
      }),
    );
    return hosts.filter((_, i) => ok[i]).map((h) => h.name);
  }

  /** The fleet's fix events, in order. */
  fixEvents(): Promise<Array<{ id: number; fix_id: number; host: string; actor: string; event: string; at: Date }>> {
    return this.pg(
      'SELECT id::int AS id, fix_id::int AS fix_id, host, actor, event, at FROM fleet_fix_events ORDER BY id',
    );
  }

  /** Every host's log tail, for failure messages. */
  logs(): string {
    return this.hosts.map((h) => `--- ${h.name}\n${h.stack.log().slice(-2500)}`).join('\n');
  }

  /**
   * Write what a dropped request needs to be explained into `dir`: every host's failed requests
   * (sent, failed, reason), its supervisor log (timestamped lines) and its deploys rows.
   */
  trace(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const h of this.hosts) {
      const stats = h.stack.traffic?.stats();
      const failed = (stats?.failedAt ?? []).map((f) => ({
        sent: new Date(f.sentAt).toISOString(),
        failed: new Date(f.at).toISOString(),
        reason: f.reason,
        reused: f.reused,
        idleMs: f.idleMs,
      }));
      let deploys: unknown[] = [];
      try {
        deploys = h.stack.deploys();
      } catch {
        // no store yet
      }
      writeFileSync(path.join(dir, `${h.name}.json`), JSON.stringify({ failed, stats, deploys }, null, 1));
      try {
        writeFileSync(path.join(dir, `${h.name}.log`), readFileSync(h.stack.logFile));
      } catch {
        // no log yet
      }
    }
  }

  /** Stop everything; returns the processes that were still under the hosts' folders (then killed). */
  async stop(): Promise<StrayProcess[]> {
    const stray: StrayProcess[] = [];
    for (const h of this.hosts) await h.stack.traffic?.stop();
    const left = await Promise.all(this.hosts.map((h) => h.stack.stop()));
    for (const l of left) stray.push(...l);
    for (const h of this.hosts) await h.proxy.close();
    await this.model.close();
    await this.pool.end().catch(() => undefined);
    await this.postgres.stop();
    if (!process.env.DANCER_E2E_KEEP) rmSync(this.root, { recursive: true, force: true });
    return stray;
  }
}
