import http from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { consultationCount } from '../consult/index.js';
import { fixCountsByState } from '../fixes/index.js';
import { minerEvictions, templateCountsByStatus } from '../patterns/index.js';
import type { Db } from '../store/index.js';
import { lastLogId, tableExists } from '../store/index.js';

/** Figures the supervisor knows in memory, read at scrape time. */
export interface LiveFigures {
  service: string;
  up: boolean;
  state: string;
  restarts: number;
  worker?: { rssBytes: number; cpuPercent: number | undefined; fds: number; threads: number } | undefined;
  supervisorRssBytes: number;
  emergencyStop: boolean;
}

/** A running /metrics endpoint. */
export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Build the registry: service figures from memory, pattern/consultation/fix/deploy figures from the store. */
export function buildRegistry(db: Db, live: () => LiveFigures): Registry {
  const registry = new Registry();
  const g = (name: string, help: string, labelNames: string[], collect: (gauge: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });
  g('dancer_up', '1 when the service has a serving worker.', ['service', 'state'], (gauge) => {
    const f = live();
    gauge.set({ service: f.service, state: f.state }, f.up ? 1 : 0);
  });
  g('dancer_restarts_total', 'Crash restarts since the supervisor started.', ['service'], (gauge) => {
    const f = live();
    gauge.set({ service: f.service }, f.restarts);
  });
  g('dancer_worker_rss_bytes', 'Resident memory of the worker process tree.', ['service'], (gauge) => {
    const f = live();
    if (f.worker) gauge.set({ service: f.service }, f.worker.rssBytes);
  });
  g('dancer_worker_cpu_percent', 'CPU of the worker tree, percent of one core.', ['service'], (gauge) => {
    const f = live();
    if (f.worker?.cpuPercent !== undefined) gauge.set({ service: f.service }, f.worker.cpuPercent);
  });
  g('dancer_worker_open_fds', 'Open file descriptors of the worker tree.', ['service'], (gauge) => {
    const f = live();
    if (f.worker) gauge.set({ service: f.service }, f.worker.fds);
  });
  g('dancer_worker_threads', 'Threads of the worker tree.', ['service'], (gauge) => {
    const f = live();
    if (f.worker) gauge.set({ service: f.service }, f.worker.threads);
  });
  g('dancer_supervisor_rss_bytes', 'Resident memory of the supervisor.', ['service'], (gauge) => {
    const f = live();
    gauge.set({ service: f.service }, f.supervisorRssBytes);
  });
  g('dancer_emergency_stop', '1 when the emergency stop is engaged.', ['service'], (gauge) => {
    const f = live();
    gauge.set({ service: f.service }, f.emergencyStop ? 1 : 0);
  });
  g('dancer_deploys', 'Deploys by kind and status.', ['service', 'kind', 'status'], (gauge) => {
    const f = live();
    if (!tableExists(db, 'deploys')) return;
    const rows = db
      .prepare('SELECT kind, status, COUNT(*) AS n FROM deploys WHERE service = ? GROUP BY kind, status')
      .all(f.service) as Array<{ kind: string; status: string; n: number }>;
    for (const r of rows) gauge.set({ service: f.service, kind: r.kind, status: r.status }, r.n);
  });
  g('dancer_log_records', 'Log rows in the store.', [], (gauge) => {
    if (!tableExists(db, 'logs')) return;
    gauge.set(lastLogId(db));
  });
  g('dancer_patterns', 'Mined patterns by status.', ['status'], (gauge) => {
    for (const r of templateCountsByStatus(db)) gauge.set({ status: r.status }, r.count);
  });
  g(
    'dancer_patterns_evicted_total',
    'Templates the miner evicted from memory to stay under patterns.miner.maxTemplates (their rows stay).',
    [],
    (gauge) => {
      if (tableExists(db, 'detector_state')) gauge.set(minerEvictions(db));
    },
  );
  g('dancer_consultations', 'Consultations recorded.', [], (gauge) => {
    if (tableExists(db, 'consultations')) gauge.set(consultationCount(db));
  });
  g('dancer_fixes', 'Fixes by state.', ['state'], (gauge) => {
    for (const r of fixCountsByState(db)) gauge.set({ state: r.state }, r.count);
  });
  return registry;
}

/** Serve the registry as Prometheus text at `/metrics` on a loopback address. */
export async function startMetricsServer(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = http.createServer(async (req, res) => {
    if (req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } catch (error) {
      res.writeHead(500).end(`${(error as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
