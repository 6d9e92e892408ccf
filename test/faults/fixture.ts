/**
 * The fault suite's service and stack. One template repository is made once per run (the shop in
 * test/faults/service: files at the root, a syntax-check build, `node --test`, pino, socket mode)
 * and copied for each scenario; each scenario then gets its own `dancer run` (a child process of
 * bin/dancer.js), the scripted model server driving the real Claude Code binary, steady
 * keep-alive traffic counting dropped requests, and a read-only view of the store.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePort, isListening, startTraffic, type Traffic, type TrafficRequest } from '../../src/demo/traffic.js';
import { StoreWatcher } from '../../src/demo/watch.js';
import { bindSockets, type HeldSocket } from '../../src/supervise/sockets.js';
import { type ModelServer, startModelServer } from '../../src/testing/model-server.js';
import type { ScenarioInput } from '../../src/testing/scenario.js';
import { killAll, type StrayProcess, strayProcesses, waitFor } from '../e2e/helpers.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const DANCER_ROOT = path.resolve(here, '..', '..');
const BIN = path.join(DANCER_ROOT, 'bin', 'dancer.js');
const SERVICE = path.join(here, 'service');

/** The terminal fix states. */
export const TERMINAL = ['deployed', 'failed', 'rejected', 'rolled_back', 'superseded'];

function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Shop Developer',
      GIT_AUTHOR_EMAIL: 'dev@example.invalid',
      GIT_COMMITTER_NAME: 'Shop Developer',
      GIT_COMMITTER_EMAIL: 'dev@example.invalid',
    },
  }).trim();
}

let template: string | undefined;

/** The template repository (made once per process): the shop committed on main. */
function templateRepo(): string {
  if (template) return template;
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-faults-template-'));
  cpSync(SERVICE, dir, { recursive: true });
  writeFileSync(path.join(dir, '.gitignore'), '.dancer/\nnode_modules/\n');
  git(dir, ['init', '-q', '-b', 'main']);
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-m', 'shop: first version']);
  template = dir;
  return dir;
}

/** Remove the template (after the suite). */
export function removeTemplate(): void {
  if (template) rmSync(template, { recursive: true, force: true });
  template = undefined;
}

/** Plain objects merged deeply (arrays replaced). */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const old = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && old && typeof old === 'object' && !Array.isArray(old)
        ? merge(old as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** The suite's dancer.yaml (pure), with a scenario's overrides merged in. */
export function shopConfig(port: number, modelUrl: string, overrides: Record<string, unknown> = {}) {
  const node = process.execPath;
  const base = {
    service: {
      name: 'shop',
      start: 'node server.mjs',
      env: { NODE_ENV: 'production' },
      build: 'node scripts/build.mjs',
      releasesDir: '.dancer/releases',
      listen: [{ name: 'http', port, host: '127.0.0.1' }],
      readiness: { http: { path: '/healthz' }, timeoutSeconds: 20 },
      drainSeconds: 1,
      observe: {
        windowSeconds: 5,
        baselineSeconds: 60,
        checkEverySeconds: 0.5,
        minRecords: 5,
        minErrors: 5,
        newPatternMin: 3,
        maxExtensions: 1,
      },
      metrics: { sampleSeconds: 0.5 },
    },
    store: { path: '.dancer/dancer.db', batch: { maxDelayMs: 100 } },
    capture: { tee: 'none' },
    patterns: {
      triggers: {
        newPattern: { minCount: 10, windowMinutes: 5 },
        review: { enabled: false },
        spike: { enabled: false },
      },
    },
    consult: {
      model: 'claude-sonnet-4-5',
      baseUrl: modelUrl,
      routine: { maxTurns: 12, timeoutSeconds: 120 },
      urgent: { maxTurns: 12, timeoutSeconds: 120 },
    },
    fixes: {
      worktreeBase: '.dancer/worktrees',
      repairRounds: 0,
      gate: {
        steps: [
          { name: 'build', run: `${node} scripts/build.mjs` },
          { name: 'test', run: `${node} --test test/` },
        ],
        stepTimeoutSeconds: 60,
        regression: { command: `${node} --test {file}`, timeoutSeconds: 60 },
      },
    },
    policy: { autoApprove: 'low', maxFiles: 5, maxLines: 120 },
  };
  return merge(base, overrides);
}

/**
 * Traffic: a quarter of the requests name no sku (the latent bug: a TypeError, answered 500); the
 * rest ask for a1, B2 and c3.
 */
export function shopTraffic(i: number): TrafficRequest {
  if (i % 25 === 0) return { method: 'GET', path: '/healthz', kind: 'health' };
  if (i % 4 === 0) return { method: 'GET', path: '/price', kind: 'no-sku' };
  const sku = ['a1', 'B2', 'c3'][(i % 4) - 1];
  return { method: 'GET', path: `/price?sku=${sku}`, kind: 'plain' };
}

/** A row of the deploys table. */
export interface DeployRow {
  id: number;
  kind: string;
  status: string;
  reason: string | null;
  actor: string | null;
  from_release: string | null;
  to_release: string;
  fix_id: number | null;
  started_at: number;
  ready_at: number | null;
  finished_at: number | null;
}

/** A row of fix_events. */
export interface EventRow {
  fix_id: number;
  ts: number;
  from_state: string | null;
  to_state: string;
  event: string;
  actor: string;
  reason: string;
}

/** A fix row, as the suite reads it. */
export interface FixRow {
  id: number;
  state: string;
  reason: string | null;
}

/** Options of {@link ShopStack.create} for a stack that is one of several (test/fleet/cluster.ts). */
export interface ShopStackOptions {
  /** A model server shared with other stacks (not closed by {@link ShopStack.stop}). */
  model?: ModelServer;
  /** Clone the shop from this git remote (e.g. a shared bare repository) instead of copying the template. */
  cloneFrom?: string;
  /** Make the stack's folder under this one. */
  parentDir?: string;
  /** Config overrides that need the stack's own folder (e.g. `fixes.worktreeBase`). */
  overridesFor?: (root: string) => Record<string, unknown>;
}

/** One scenario's stack. */
export class ShopStack {
  supervisor: ChildProcess | undefined;
  traffic: Traffic | undefined;
  readonly watcher: StoreWatcher;
  readonly logFile: string;
  readonly repo: string;
  readonly configFile: string;
  /** The tree of the first commit: the last good release until a fix deploys. */
  readonly baseTree: string;

  private constructor(
    readonly root: string,
    readonly port: number,
    readonly model: ModelServer,
    overrides: Record<string, unknown>,
    private readonly ownsModel: boolean = true,
    cloneFrom?: string,
  ) {
    this.repo = path.join(root, 'shop');
    if (cloneFrom) git(root, ['clone', '-q', cloneFrom, this.repo]);
    else cpSync(templateRepo(), this.repo, { recursive: true });
    const modules = path.join(this.repo, 'node_modules');
    mkdirSync(modules);
    symlinkSync(path.join(DANCER_ROOT, 'node_modules', 'pino'), path.join(modules, 'pino'));
    symlinkSync(DANCER_ROOT, path.join(modules, 'dancer'));
    this.configFile = path.join(this.repo, 'dancer.yaml');
    writeFileSync(this.configFile, stringify(shopConfig(port, model.url, overrides)));
    this.watcher = new StoreWatcher(path.join(this.repo, '.dancer', 'dancer.db'));
    this.logFile = path.join(root, 'supervisor.log');
    this.baseTree = this.git(['rev-parse', 'HEAD^{tree}']);
  }

  /** A stack for one scenario (the supervisor is not started). */
  static async create(
    scenario: ScenarioInput,
    overrides: Record<string, unknown> = {},
    options: ShopStackOptions = {},
  ): Promise<ShopStack> {
    const root = mkdtempSync(path.join(options.parentDir ?? tmpdir(), 'dancer-faults-'));
    const model =
      options.model ?? (await startModelServer({ scenario, recordFile: path.join(root, 'model-requests.jsonl') }));
    const all = options.overridesFor ? merge(overrides, options.overridesFor(root)) : overrides;
    return new ShopStack(root, await freePort(), model, all, !options.model, options.cloneFrom);
  }

  /** The shop's template repository (one per process), e.g. to make a shared remote from. */
  static templateRepo(): string {
    return templateRepo();
  }

  git(args: string[]): string {
    return git(this.repo, args);
  }

  /** Prefix each line of the supervisor's log with the ISO time it arrived. */
  timestamps = false;

  /** Extra environment of `dancer run` and the CLI (e.g. a Zulip key). */
  extraEnv: Record<string, string> = {};

  /**
   * Socket activation, as systemd's .socket unit does it: the stack binds the listening socket
   * once and every `dancer run` is started with it as fd 3 (LISTEN_FDS=1, LISTEN_PID its own
   * pid, LISTEN_FDNAMES=http), so the socket outlives a supervisor killed with -9.
   */
  socketActivated = false;
  private held: HeldSocket | undefined;

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, NO_COLOR: '1', ANTHROPIC_API_KEY: 'sk-scripted-faults-key', ...this.extraEnv };
  }

  /** Start `dancer run` and wait until the service answers. */
  async startSupervisor(): Promise<ChildProcess> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    let child: ChildProcess;
    if (this.socketActivated) {
      this.held ??= bindSockets([{ name: 'http', host: '127.0.0.1', port: this.port }])[0]!;
      // The launcher: `exec` keeps the shell's pid, so LISTEN_PID=$$ names dancer run itself.
      const launcher =
        'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http; export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec "$0" "$@"';
      child = spawn('/bin/sh', ['-c', launcher, process.execPath, BIN, 'run', '--config', this.configFile], {
        cwd: this.repo,
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe', this.held.fd],
      });
    } else {
      child = spawn(process.execPath, [BIN, 'run', '--config', this.configFile], {
        cwd: this.repo,
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }
    if (this.timestamps) {
      // Each line prefixed with the time it arrived (to line the log up with traffic failures).
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        createInterface({ input: stream }).on('line', (line) => log.write(`${new Date().toISOString()} ${line}\n`));
      }
    } else {
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
    }
    this.supervisor = child;
    const deadline = Date.now() + 60_000;
    // The supervisor binds the socket before its first worker is ready (connections wait in the
    // backlog meanwhile): wait for an answer, not just the port.
    while (!(await isListening(this.port)) || !(await this.answers())) {
      if (child.exitCode !== null) throw new Error(`dancer run exited with ${child.exitCode}:\n${this.log()}`);
      if (Date.now() > deadline) throw new Error(`the service did not listen on ${this.port}:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return child;
  }

  /** True when the service answers /healthz with 200 within a second. */
  async answers(): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  startTraffic(next: (i: number) => TrafficRequest = shopTraffic, ratePerSecond = 30): Traffic {
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
    return this.query<FixRow>('SELECT id, state, reason FROM fixes ORDER BY id');
  }

  events(fixId?: number): EventRow[] {
    return fixId === undefined
      ? this.query<EventRow>('SELECT * FROM fix_events ORDER BY id')
      : this.query<EventRow>('SELECT * FROM fix_events WHERE fix_id = ? ORDER BY id', fixId);
  }

  deploys(): DeployRow[] {
    return this.query<DeployRow>('SELECT * FROM deploys ORDER BY id');
  }

  /** The release serving now, from the supervisor's persisted state. */
  currentRelease(): string | undefined {
    return (
      this.query<{ current_release: string | null }>(
        "SELECT current_release FROM supervisor_state WHERE service = 'shop'",
      )[0]?.current_release ?? undefined
    );
  }

  /** Wait for a fix (other than `except`) to reach one of `states`. */
  async fixIn(states: string[], timeoutMs: number, except: number[] = []): Promise<FixRow> {
    return this.explained(
      waitFor(
        `a fix in ${states.join('|')}`,
        timeoutMs,
        () => {
          const sup = this.supervisor;
          if (sup && sup.exitCode !== null && sup.signalCode === null) {
            throw new Error(`dancer run exited with ${sup.exitCode}:\n${this.log()}`);
          }
          return this.fixes().find((f) => states.includes(f.state) && !except.includes(f.id));
        },
        100,
      ),
    );
  }

  /** `p`, or its error with the fixes and the supervisor's output added. */
  private async explained<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (error) {
      throw new Error(`${(error as Error).message}\nfixes: ${JSON.stringify(this.fixes())}\n${this.log()}`);
    }
  }

  /** Run a `dancer` command against this stack's config (async: the traffic keeps flowing). */
  async dancer(args: string[]): Promise<string> {
    const { stdout } = await run(process.execPath, [BIN, ...args, '--config', this.configFile], {
      cwd: this.repo,
      env: this.env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    return stdout;
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

  /** SIGKILL the supervisor and wait until it is gone. */
  async killSupervisor(): Promise<void> {
    const child = this.supervisor;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }

  /** Stop everything; returns the processes that were still under the temp dir (then killed). */
  async stop(): Promise<StrayProcess[]> {
    await this.traffic?.stop();
    await this.stopSupervisor();
    this.held?.close();
    this.held = undefined;
    this.watcher.close();
    if (this.ownsModel) await this.model.close();
    const stray = await strayProcesses(this.root);
    killAll(stray);
    if (!process.env.DANCER_FAULTS_KEEP) rmSync(this.root, { recursive: true, force: true });
    return stray;
  }
}
