import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ConsultConfig, consultSchema } from '../../src/config/schema/consult.js';
import { type Db, openStore } from '../../src/store/open.js';

/** A temp git repository (the "worktree"), a store, and folders for runs and bundles. */
export interface Workspace {
  root: string;
  worktree: string;
  dbPath: string;
  db: Db;
  runDir: string;
  bundleDir: string;
}

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@localhost',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@localhost',
};

/** Files of the service repository, keyed by relative path. */
export const SERVICE_FILES: Record<string, string> = {
  'package.json': '{ "name": "svc", "type": "module" }\n',
  'src/payment.js': [
    "const API_KEY = 'AKIAZZCANARY0SOURCE1';",
    '',
    'export function charge(order) {',
    '  const total = order.items.reduce((sum, item) => sum + item.price, 0);',
    '  if (order.coupon.percent > 0) {',
    '    return total * (1 - order.coupon.percent / 100);',
    '  }',
    '  return total;',
    '}',
    '',
  ].join('\n'),
  'config/prod.json': '{ "db": "prod" }\n',
};

/** Create the workspace; the repository has one commit with {@link SERVICE_FILES}. */
export function makeWorkspace(prefix = 'dancer-consult-'): Workspace {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  const worktree = path.join(root, 'repo');
  for (const [file, text] of Object.entries(SERVICE_FILES)) {
    mkdirSync(path.dirname(path.join(worktree, file)), { recursive: true });
    writeFileSync(path.join(worktree, file), text);
  }
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: worktree, env: GIT_ENV });
  execFileSync('git', ['add', '-A'], { cwd: worktree, env: GIT_ENV });
  execFileSync('git', ['commit', '-q', '-m', 'init'], { cwd: worktree, env: GIT_ENV });
  const dbPath = path.join(root, 'dancer.db');
  const db = openStore(dbPath);
  const runDir = path.join(root, 'runs');
  const bundleDir = path.join(root, 'bundles');
  return { root, worktree, dbPath, db, runDir, bundleDir };
}

/** A row for {@link insertLogs}. */
export interface LogRow {
  ts: number;
  level?: number;
  message: string;
  templateId?: number;
  errType?: string;
  errMessage?: string;
  stack?: string;
  requestId?: string;
  httpMethod?: string;
  httpRoute?: string;
  httpStatus?: number;
  hostname?: string;
  extra?: Record<string, unknown>;
}

/** Insert log rows (and their FTS entries) directly. */
export function insertLogs(db: Db, rows: readonly LogRow[]): void {
  const insert = db.prepare(
    `INSERT INTO logs (ts, last_ts, count, level, message, template_id, err_type, err_message, stack, request_id,
       http_method, http_route, http_status, hostname, extra)
     VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const fts = db.prepare('INSERT INTO logs_fts (rowid, message, err, stack) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (const r of rows) {
      const info = insert.run(
        r.ts,
        r.ts,
        r.level ?? 50,
        r.message,
        r.templateId ?? null,
        r.errType ?? null,
        r.errMessage ?? null,
        r.stack ?? null,
        r.requestId ?? null,
        r.httpMethod ?? null,
        r.httpRoute ?? null,
        r.httpStatus ?? null,
        r.hostname ?? null,
        r.extra ? JSON.stringify(r.extra) : null,
      );
      fts.run(info.lastInsertRowid, r.message, `${r.errType ?? ''} ${r.errMessage ?? ''}`, r.stack ?? '');
    }
  })();
}

/** A consult config for tests, pointed at a scripted model server. */
export function testConfig(ws: Workspace, baseUrl: string, overrides: Record<string, unknown> = {}): ConsultConfig {
  return consultSchema.parse({
    model: 'claude-opus-5-5',
    baseUrl,
    runDir: ws.runDir,
    bundleDir: ws.bundleDir,
    allowedCommands: ['node --version'],
    budget: { perHour: 1000 },
    ...overrides,
  });
}

/** Environment with an API key for the scripted server. */
export const TEST_ENV = { ANTHROPIC_API_KEY: 'sk-test' } as NodeJS.ProcessEnv;

/** Pids of processes whose cwd is inside `dir` (Claude Code runs with cwd = the worktree). */
export function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) out.push(Number(entry));
    } catch {
      // the process ended, or is not ours to read
    }
  }
  return out;
}

/** A stack trace through src/payment.js, as a Node service deployed elsewhere would print it. */
export const PAYMENT_STACK = [
  "TypeError: Cannot read properties of undefined (reading 'percent')",
  '    at charge (/srv/svc/releases/42/src/payment.js:5:20)',
  '    at handle (/srv/svc/releases/42/node_modules/express/lib/router.js:10:3)',
  '    at node:internal/process/task_queues:95:5',
].join('\n');

/** Rows of one error pattern (template 7) spread over the last hour before `at`. */
export function paymentRows(at: number, n: number): LogRow[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: at - (n - i) * 30_000,
    level: 50,
    templateId: 7,
    message: `charge failed for order ${1000 + i}: coupon missing`,
    errType: 'TypeError',
    errMessage: "Cannot read properties of undefined (reading 'percent')",
    stack: PAYMENT_STACK,
    requestId: `req-${i}`,
    httpMethod: 'POST',
    httpRoute: i % 3 === 0 ? '/api/checkout' : '/api/orders/:id/pay',
    httpStatus: 500,
    hostname: i % 2 === 0 ? 'web-1' : 'web-2',
  }));
}
