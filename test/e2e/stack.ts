/**
 * A real stack for one end-to-end test: the checkout example as a git repo (prepareDemoRepo), the
 * scripted model server, `dancer run` as a child process of bin/dancer.js (needs `npm run build`),
 * steady keep-alive traffic, and a read-only view of the store. `stop()` ends all of it and
 * reports processes left under the temp dir.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type DemoRepo, prepareDemoRepo } from '../../src/demo/repo.js';
import { freePort, isListening, startTraffic, type Traffic, type TrafficRequest } from '../../src/demo/traffic.js';
import { StoreWatcher } from '../../src/demo/watch.js';
import { type ModelServer, startModelServer } from '../../src/testing/model-server.js';
import type { ScenarioInput } from '../../src/testing/scenario.js';
import { killAll, type StrayProcess, strayProcesses, waitFor } from './helpers.js';

const run = promisify(execFile);
export const DANCER_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(DANCER_ROOT, 'bin', 'dancer.js');

/** A fix row, as the tests read it. */
export interface FixRow {
  id: number;
  state: string;
  pattern_id: string;
  repair_rounds: number;
}

/** Traffic of plain orders plus the given share of a special kind. */
export function mix(special: ((i: number) => TrafficRequest | undefined) | undefined) {
  return (i: number): TrafficRequest => {
    const s = special?.(i);
    if (s) return s;
    if (i % 25 === 0) return { method: 'GET', path: '/healthz', kind: 'health' };
    return {
      method: 'POST',
      path: '/checkout',
      body: { items: [{ sku: `sku-${i % 7}`, qty: 1, priceCents: 300 }] },
      kind: 'plain',
    };
  };
}

/** Lower-case coupons: the latent bug (a TypeError, answered 500). */
export const lowerCoupons = (i: number): TrafficRequest | undefined =>
  i % 5 === 3
    ? {
        method: 'POST',
        path: '/checkout',
        body: { items: [{ sku: 'a', qty: 1, priceCents: 500 }], coupon: 'save10' },
        kind: 'coupon-lower',
      }
    : undefined;

/** EUR orders: refused by the handler's currency guard (an Error, answered 500). */
export const eurOrders = (i: number): TrafficRequest | undefined =>
  i % 5 === 1
    ? {
        method: 'POST',
        path: '/checkout',
        body: { items: [{ sku: 'b', qty: 1, priceCents: 500 }], currency: 'EUR' },
        kind: 'eur',
      }
    : undefined;

export class Stack {
  supervisor: ChildProcess | undefined;
  traffic: Traffic | undefined;
  readonly watcher: StoreWatcher;
  readonly logFile: string;

  private constructor(
    readonly root: string,
    readonly repo: DemoRepo,
    readonly port: number,
    readonly model: ModelServer,
  ) {
    this.watcher = new StoreWatcher(repo.dbPath);
    this.logFile = path.join(root, 'supervisor.log');
  }

  /** Prepare the repo and the model server (not started: call {@link startSupervisor}). */
  static async create(scenario: ScenarioInput, windowSeconds = 5): Promise<Stack> {
    const root = mkdtempSync(path.join(tmpdir(), 'dancer-e2e-'));
    const model = await startModelServer({ scenario, recordFile: path.join(root, 'model-requests.jsonl') });
    const port = await freePort();
    const repo = prepareDemoRepo({ root, dancerRoot: DANCER_ROOT, port, windowSeconds, modelBaseUrl: model.url });
    return new Stack(root, repo, port, model);
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      NO_COLOR: '1',
      ANTHROPIC_API_KEY: 'sk-scripted-e2e-key',
      ANTHROPIC_BASE_URL: this.model.url,
    };
  }

  /** Start `dancer run` and wait until the service listens. */
  async startSupervisor(): Promise<ChildProcess> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [BIN, 'run', '--config', this.repo.configFile], {
      cwd: this.repo.repo,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.supervisor = child;
    const deadline = Date.now() + 90_000;
    while (!(await isListening(this.port))) {
      if (child.exitCode !== null) throw new Error(`dancer run exited with ${child.exitCode}:\n${this.log()}`);
      if (Date.now() > deadline) throw new Error(`the service did not listen on ${this.port}:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return child;
  }

  startTraffic(next: (i: number) => TrafficRequest, ratePerSecond = 30): Traffic {
    this.traffic = startTraffic({ port: this.port, ratePerSecond, connections: 4, next });
    return this.traffic;
  }

  /** The supervisor's output so far (for failure messages). */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-6000);
    } catch {
      return '';
    }
  }

  query<T>(sql: string, ...params: unknown[]): T[] {
    try {
      return this.watcher.query<T>(sql, ...params);
    } catch {
      return []; // the store or the table does not exist yet
    }
  }

  fixes(): FixRow[] {
    return this.query<FixRow>('SELECT id, state, pattern_id, repair_rounds FROM fixes ORDER BY id');
  }

  /** Wait for a fix (other than `except`) to reach one of `states`. */
  async fixIn(states: string[], timeoutMs: number, except: number[] = []): Promise<FixRow> {
    return waitFor(
      `a fix in ${states.join('|')}`,
      timeoutMs,
      () => {
        if (this.supervisor && this.supervisor.exitCode !== null && this.supervisor.signalCode === null) {
          throw new Error(`dancer run exited with ${this.supervisor.exitCode}:\n${this.log()}`);
        }
        return this.fixes().find((f) => states.includes(f.state) && !except.includes(f.id));
      },
      300,
    );
  }

  templateStatus(patternId: string): string | undefined {
    return this.query<{ status: string }>('SELECT status FROM templates WHERE id = ?', Number(patternId))[0]?.status;
  }

  /** Run a `dancer` command against this stack's config. */
  async dancer(args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(process.execPath, [BIN, ...args, '--config', this.repo.configFile], {
      cwd: this.repo.repo,
      env: this.env,
      timeout: 60_000,
    });
  }

  /** SIGTERM the supervisor (SIGKILL after 20 s) and wait for it to exit. */
  async stopSupervisor(): Promise<void> {
    const child = this.supervisor;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  /** Stop everything; returns the processes that were still under the temp dir (then killed). */
  async stop(): Promise<StrayProcess[]> {
    await this.traffic?.stop();
    await this.stopSupervisor();
    this.watcher.close();
    await this.model.close();
    const stray = await strayProcesses(this.root);
    killAll(stray);
    if (!process.env.DANCER_E2E_KEEP) rmSync(this.root, { recursive: true, force: true });
    return stray;
  }
}
