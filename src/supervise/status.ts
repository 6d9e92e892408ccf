/** `dancer status`: the report, from the store alone or with a running supervisor's live figures. */
import { inFlightFixRows } from '../fixes/index.js';
import type { Db } from '../store/index.js';
import { isAlive } from './proc.js';
import type { TreeSample } from './proc-metrics.js';
import { EMERGENCY_STOP_FLAG, type PersistedWorker, SuperviseStore } from './state-store.js';

/** `dancer status --json`. */
export interface StatusReport {
  service: string;
  running: boolean;
  state: string;
  supervisorPid: number | null;
  uptimeSeconds: number | null;
  pids: number[];
  workers: PersistedWorker[];
  currentRelease: string | null;
  previousRelease: string | null;
  lastGoodRelease: string | null;
  restarts: number;
  recentRestarts: number;
  sockets: Array<{ name: string; host: string; port: number }>;
  observing: { deployId: number; release: string; windowEndsAt: number | null } | null;
  lastDeploy: { id: number; kind: string; toRelease: string; status: string; reason: string | null } | null;
  emergencyStop: { engaged: boolean; setBy: string | null; reason: string | null; setAt: number | null };
  openFixes: Array<Record<string, unknown>> | null;
  metrics: { rssBytes: number; cpuPercent: number | null; fds: number; threads: number } | null;
}

/** What a running supervisor adds to the stored state. */
export interface LiveStatus {
  running: boolean;
  state: string;
  startedAt: number;
  restarts: number;
  recentRestarts: number;
  sockets: Array<{ name: string; host: string; port: number }>;
  observing: StatusReport['observing'];
  sample: TreeSample | undefined;
  /** The clock's now (default Date.now). */
  now?: number;
}

/** Build a status report from the store alone (when no supervisor runs) or with live data. */
export function statusFromStore(db: Db, service: string, live?: LiveStatus): StatusReport {
  const store = new SuperviseStore(db);
  const row = store.getState(service);
  const stop = store.getFlag(EMERGENCY_STOP_FLAG);
  const last = store.listDeploys(service, 1)[0];
  const workers = (row?.workers ?? []).filter((w) => live || isAlive(w.pid));
  const running = live?.running ?? false;
  const startedAt = live?.startedAt ?? row?.startedAt ?? null;
  return {
    service,
    running,
    state:
      live?.state ??
      (row
        ? running
          ? row.state
          : row.state === 'stopped'
            ? 'stopped'
            : `dead (the supervisor${row.supervisorPid ? ` pid ${row.supervisorPid}` : ''} died while ${row.state}; start it again with dancer run)`
        : 'never started'),
    supervisorPid: running ? process.pid : null,
    uptimeSeconds: running && startedAt ? Math.round(((live?.now ?? Date.now()) - startedAt) / 1000) : null,
    pids: workers.map((w) => w.pid),
    workers,
    currentRelease: row?.currentRelease ?? null,
    previousRelease: row?.previousRelease ?? null,
    lastGoodRelease: row?.lastGoodRelease ?? null,
    restarts: live?.restarts ?? row?.restarts ?? 0,
    recentRestarts: live?.recentRestarts ?? 0,
    sockets: live?.sockets ?? [],
    observing: live?.observing ?? null,
    lastDeploy: last
      ? { id: last.id, kind: last.kind, toRelease: last.toRelease, status: last.status, reason: last.reason }
      : null,
    emergencyStop: {
      engaged: stop !== undefined,
      setBy: stop?.setBy ?? null,
      reason: stop?.reason ?? null,
      setAt: stop?.setAt ?? null,
    },
    openFixes: inFlightFixRows(db),
    metrics: live?.sample
      ? {
          rssBytes: live.sample.rssBytes,
          cpuPercent: live.sample.cpuPercent ?? null,
          fds: live.sample.fds,
          threads: live.sample.threads,
        }
      : null,
  };
}
