import http from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { Db } from '../store/index.js';

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

function hasTable(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?").get(name) !== undefined;
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
    if (!hasTable(db, 'deploys')) return;
    const rows = db
      .prepare('SELECT kind, status, COUNT(*) AS n FROM deploys WHERE service = ? GROUP BY kind, status')
      .all(f.service) as Array<{ kind: string; status: string; n: number }>;
    for (const r of rows) gauge.set({ service: f.service, kind: r.kind, status: r.status }, r.n);
  });
  g('dancer_log_records', 'Log rows in the store.', [], (gauge) => {
    if (!hasTable(db, 'logs')) return;
    gauge.set((db.prepare('SELECT COALESCE(MAX(id), 0) AS n FROM logs').get() as { n: number }).n);
  });
  g('dancer_patterns', 'Mined patterns by status.', ['status'], (gauge) => {
    if (!hasTable(db, 'templates')) return;
    try {
      const rows = db.prepare('SELECT status, COUNT(*) AS n FROM templates GROUP BY status').all() as Array<{
        status: string;
        n: number;
      }>;
      for (const r of rows) gauge.set({ status: String(r.status) }, r.n);
    } catch {
      gauge.set({ status: 'all' }, (db.prepare('SELECT COUNT(*) AS n FROM templates').get() as { n: number }).n);
    }
  });
  g('dancer_consultations', 'Consultations recorded.', [], (gauge) => {
    if (!hasTable(db, 'consultations')) return;
    gauge.set((db.prepare('SELECT COUNT(*) AS n FROM consultations').get() as { n: number }).n);
  });
  g('dancer_fixes', 'Fixes by state.', ['state'], (gauge) => {
    if (!hasTable(db, 'fixes')) return;
    const col = stateColumn(db);
    if (!col) {
      gauge.set({ state: 'all' }, (db.prepare('SELECT COUNT(*) AS n FROM fixes').get() as { n: number }).n);
      return;
    }
    const rows = db.prepare(`SELECT ${col} AS s, COUNT(*) AS n FROM fixes GROUP BY ${col}`).all() as Array<{
      s: string;
      n: number;
    }>;
    for (const r of rows) gauge.set({ state: String(r.s) }, r.n);
  });
  return registry;
}

/** The column holding a fix's state (`state` or `status`), when the fixes table has one. */
export function stateColumn(db: Db): string | undefined {
  const cols = (db.prepare("SELECT name FROM pragma_table_info('fixes')").all() as Array<{ name: string }>).map(
    (c) => c.name,
  );
  return cols.includes('state') ? 'state' : cols.includes('status') ? 'status' : undefined;
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
