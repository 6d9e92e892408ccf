/**
 * Periodic /proc samples of the serving worker's process tree and of the supervisor itself,
 * stored in `metrics`; old rows are pruned on their own interval (`metrics.keepHours`).
 */
import { errorMessage } from '../errors.js';
import type { Clock, Timers } from './clock.js';
import type { ServiceConfig } from './paths.js';
import { type TreeSample, TreeSampler } from './proc-metrics.js';
import type { SuperviseStore } from './state-store.js';

/** How often old metric rows are pruned. */
export const PRUNE_EVERY_MS = 10 * 60_000;

/** Options of {@link Sampler}. */
export interface SamplerOptions {
  service: string;
  metrics: ServiceConfig['metrics'];
  store: SuperviseStore;
  clock: Clock;
  timers: Timers;
  log: (message: string) => void;
}

/** Samples worker and supervisor metrics into the store. */
export class Sampler {
  private worker: { pgid: number; sampler: TreeSampler } | undefined;
  private readonly self = new TreeSampler({ pid: process.pid });
  private sampleTimer: unknown;
  private pruneTimer: unknown;
  /** The serving worker's last sample. */
  last: TreeSample | undefined;

  constructor(private readonly o: SamplerOptions) {}

  /** Sample every `metrics.sampleSeconds`; prune every {@link PRUNE_EVERY_MS} (and once now). */
  start(): void {
    const { timers, clock } = this.o;
    this.sampleTimer = timers.setInterval(() => this.sampleOnce(clock()), this.o.metrics.sampleSeconds * 1000);
    this.pruneTimer = timers.setInterval(() => this.prune(clock()), PRUNE_EVERY_MS);
    this.prune(clock());
  }

  stop(): void {
    if (this.sampleTimer !== undefined) this.o.timers.clearInterval(this.sampleTimer);
    if (this.pruneTimer !== undefined) this.o.timers.clearInterval(this.pruneTimer);
    this.sampleTimer = undefined;
    this.pruneTimer = undefined;
  }

  /** Follow the process group of a new serving worker (undefined: none serves). */
  follow(pgid: number | undefined): void {
    this.worker = pgid === undefined ? undefined : { pgid, sampler: new TreeSampler({ pgid }) };
  }

  /** Take one sample of the worker and the supervisor now. */
  sampleOnce(now: number): void {
    const name = this.o.service;
    const rows: Array<{ ts: number; service: string; scope: string; pid: number | null; name: string; value: number }> =
      [];
    const push = (scope: string, s: TreeSample, pid: number) => {
      rows.push({ ts: now, service: name, scope, pid, name: 'rss_bytes', value: s.rssBytes });
      rows.push({ ts: now, service: name, scope, pid, name: 'fds', value: s.fds });
      rows.push({ ts: now, service: name, scope, pid, name: 'threads', value: s.threads });
      if (s.cpuPercent !== undefined)
        rows.push({ ts: now, service: name, scope, pid, name: 'cpu_percent', value: s.cpuPercent });
    };
    if (this.worker) {
      const s = this.worker.sampler.sample(now);
      if (s) {
        this.last = s;
        push('worker', s, this.worker.pgid);
      }
    }
    const self = this.self.sample(now);
    if (self) push('supervisor', self, process.pid);
    try {
      this.o.store.insertMetrics(rows);
    } catch (error) {
      this.o.log(`metrics not stored: ${errorMessage(error)}`);
    }
  }

  /** Delete metric rows older than `metrics.keepHours`. */
  prune(now: number): void {
    try {
      this.o.store.pruneMetrics(now - this.o.metrics.keepHours * 3_600_000);
    } catch (error) {
      this.o.log(`metrics not pruned: ${errorMessage(error)}`);
    }
  }
}
