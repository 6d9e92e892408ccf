/**
 * First contact: services that are not the demo's, run with `dancer init --yes && dancer run`
 * and no edit to the service. Each must serve within 10 s, its log calls must be stored once
 * each, and its error patterns listed by `dancer patterns`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../../src/demo/traffic.js';
import { openStore } from '../../src/store/index.js';
import { dancer as runDancer } from '../cli/dancer-cli.js';
import { killAll, strayProcesses } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/dancer.js');

function dancer(cwd: string, args: string[], input?: string) {
  return runDancer(args, { cwd, input });
}

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-first-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  cleanups.push(async () => {
    killAll(await strayProcesses(dir, 10_000));
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function run(dir: string): Run {
  const child = spawn(process.execPath, [BIN, 'run'], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exit;
    }
  });
  return { child, stderr: () => err, exit };
}

async function get(port: number, pathname: string): Promise<number | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${pathname}`, { signal: AbortSignal.timeout(2000) });
    await r.text();
    return r.status;
  } catch {
    return undefined;
  }
}

/** Rows and records whose message contains `needle` (a record collapsed ×n counts n). */
function stored(dir: string, needle: string): { rows: number; records: number } {
  if (!existsSync(path.join(dir, '.dancer/dancer.db'))) return { rows: 0, records: 0 };
  const db = openStore(path.join(dir, '.dancer/dancer.db'), { readonly: true });
  try {
    const r = db
      .prepare('SELECT count(*) AS rows, coalesce(sum(count), 0) AS records FROM logs WHERE message LIKE ?')
      .get(`%${needle}%`) as { rows: number; records: number };
    return r;
  } catch (error) {
    if (/no such table/.test(String(error))) return { rows: 0, records: 0 }; // migrations still running
    throw error;
  } finally {
    db.close();
  }
}

interface Pattern {
  id: number;
  maxLevel: string;
  count: number;
  template: string;
}

function errorPatterns(dir: string): Pattern[] {
  const r = dancer(dir, ['patterns', '--json', '--level', 'error']);
  if (r.code !== 0) return [];
  return JSON.parse(r.stdout) as Pattern[];
}

async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Hand the worker an invoice: written beside the inbox, then renamed into it, so the worker never
 * sees a file being written (it reads every name in its inbox, dot-files included).
 */
function drop(dir: string, invoice: { id: string; lines: Array<{ qty: number; unit: number }>; parts?: number }): void {
  const inbox = path.join(dir, 'inbox');
  const name = invoice.id.replace(/^inv-/, '');
  const tmp = path.join(dir, `.${name}.tmp`);
  writeFileSync(tmp, JSON.stringify(invoice));
  renameSync(tmp, path.join(inbox, `${name}.json`));
}

/** The parts of the written dancer.yaml the tests look at. */
interface InitConfig {
  service: {
    start: string;
    mode?: string;
    build?: string;
    env?: Record<string, string>;
    listen: Array<{ port: number }>;
    readiness: { http: { path: string } };
  };
}

/** `dancer init --yes --port PORT` (a free port, so parallel runs do not collide), then `dancer run`. */
async function initAndRun(dir: string): Promise<{ run: Run; config: InitConfig; port: number; t0: number }> {
  const port = await freePort();
  const init = dancer(dir, ['init', '--yes', '--port', String(port)]);
  expect(init.code, init.stderr).toBe(0);
  const config = parse(readFileSync(path.join(dir, 'dancer.yaml'), 'utf8'));
  const t0 = Date.now();
  return { run: run(dir), config, port, t0 };
}

const PLAIN_HTTP = `const http = require('node:http');
const port = Number(process.env.PORT || 3000);
http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const id = url.searchParams.get('id');
    if (url.pathname === '/orders') {
      if (Number(id) % 5 === 0) {
        console.error(new TypeError('Cannot read properties of undefined (reading "total") for order ' + id).stack);
        res.statusCode = 500;
        res.end('failed');
        return;
      }
      console.log('order ' + id + ' served');
      res.end('ok');
      return;
    }
    res.end('hello');
  })
  .listen(port, '127.0.0.1', () => console.log('listening on ' + port));
`;

const TS_SERVER = `import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 4000);

function log(level: string, msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ level, time: new Date().toISOString(), msg, ...extra }) + '\\n');
}

function priceOf(sku: string): number {
  const prices: Record<string, number> = { apple: 3, pear: 4 };
  const price = prices[sku];
  if (price === undefined) throw new RangeError('unknown sku ' + sku);
  return price;
}

createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/health') {
    res.end('ok');
    return;
  }
  const sku = url.searchParams.get('sku') ?? '';
  try {
    const price = priceOf(sku);
    log('info', 'quoted ' + url.searchParams.get('call'), { sku, price });
    res.end(String(price));
  } catch (err) {
    const e = err as Error;
    log('error', 'quote failed', { err: { type: e.name, message: e.message, stack: e.stack } });
    res.statusCode = 500;
    res.end('error');
  }
}).listen(port, '127.0.0.1');
`;

const PY_WORKER = `import json
import logging
import os
import time

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("invoices")
INBOX = "inbox"


def total(invoice):
    return sum(line["qty"] * line["unit"] for line in invoice["lines"]) / invoice["parts"]


def main():
    os.makedirs(INBOX, exist_ok=True)
    log.info("invoice worker started")
    while True:
        for name in sorted(os.listdir(INBOX)):
            path = os.path.join(INBOX, name)
            try:
                with open(path) as f:
                    invoice = json.load(f)
                log.info("invoice %s totalled %.2f", invoice["id"], total(invoice))
            except Exception:
                log.exception("invoice %s failed", name)
            finally:
                os.remove(path)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
`;

describe('first contact: dancer init --yes && dancer run, no edit to the service', { timeout: 90_000 }, () => {
  it('plain node:http on PORT at the repository root', async () => {
    const dir = project({
      'package.json': JSON.stringify({ name: 'plain-http', version: '1.0.0', main: 'server.js' }),
      'server.js': PLAIN_HTTP,
    });
    // A record from long ago: store.retention (14 days) must remove it once dancer run is up.
    const old = dancer(dir, ['ingest', '-'], '{"level":30,"time":1600000000000,"msg":"ancient record"}\n');
    expect(old.code, old.stderr).toBe(0);
    expect(stored(dir, 'ancient record').rows).toBe(1);
    const { run: r, config, port, t0 } = await initAndRun(dir);
    expect(config.service).toMatchObject({ start: 'node server.js', mode: 'port' });
    await until('the service to answer', 10_000, async () => ((await get(port, '/')) === 200 ? true : undefined));
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (let i = 1; i <= 12; i++) expect(await get(port, `/orders?id=${i}`)).toBe(i % 5 === 0 ? 500 : 200);
    await until('the calls to be stored', 10_000, () => (stored(dir, 'order 12 served').rows === 1 ? true : undefined));
    for (const i of [1, 2, 3, 4, 6, 11, 12]) expect(stored(dir, `order ${i} served`)).toEqual({ rows: 1, records: 1 });
    expect(stored(dir, 'for order 10').rows).toBe(1);
    const patterns = await until('an error pattern', 10_000, () => {
      const list = errorPatterns(dir).filter((p) => /Cannot read properties/.test(p.template));
      return list.length > 0 && list[0]!.count >= 2 ? list : undefined;
    });
    expect(patterns[0]!.count).toBe(2);
    // Retention runs under dancer run (store.retention.intervalSeconds; a first round at start).
    await until('retention to prune the old record', 10_000, () =>
      stored(dir, 'ancient record').rows === 0 ? true : undefined,
    );
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  });

  it('a TypeScript service with a build step', async () => {
    const dir = project({
      'package.json': JSON.stringify({
        name: 'quote-service',
        private: true,
        type: 'module',
        scripts: { build: 'tsc -p tsconfig.json', start: 'node dist/server.js' },
      }),
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          outDir: 'dist',
          rootDir: 'src',
          strict: true,
          types: ['node'],
        },
        include: ['src'],
      }),
      'src/server.ts': TS_SERVER,
    });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    // What init says to do first (it is in dancer.yaml's "to do" too): the project's own build.
    const shown = dancer(dir, ['init']);
    expect(shown.stderr).toMatch(/dist\/server\.js does not exist yet: run `npm run build`/);
    const build = spawnSync('npm', ['run', 'build'], { cwd: dir, encoding: 'utf8' });
    expect(build.status, build.stderr + build.stdout).toBe(0);
    const { config, port, t0 } = await initAndRun(dir);
    expect(config.service).toMatchObject({ start: 'node dist/server.js', build: 'npm run build', mode: 'port' });
    expect(config.service.readiness.http.path).toBe('/health');
    await until('the service to answer', 10_000, async () => ((await get(port, '/health')) === 200 ? true : undefined));
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (let i = 1; i <= 8; i++) expect(await get(port, `/?sku=apple&call=c${i}x`)).toBe(200);
    for (let i = 1; i <= 3; i++) expect(await get(port, `/?sku=plum${i}`)).toBe(500);
    await until('the calls to be stored', 10_000, () => (stored(dir, 'quoted c8x').rows === 1 ? true : undefined));
    for (let i = 1; i <= 8; i++) expect(stored(dir, `quoted c${i}x`)).toEqual({ rows: 1, records: 1 });
    const patterns = await until('an error pattern', 10_000, () => {
      const list = errorPatterns(dir).filter((p) => /quote failed/.test(p.template));
      return list.length > 0 && list[0]!.count >= 3 ? list : undefined;
    });
    expect(patterns[0]!.count).toBe(3);
  });

  it('a Python worker (logging module, tracebacks)', async () => {
    const dir = project({ 'invoice_worker.py': PY_WORKER, 'test_invoice_worker.py': 'import unittest\n' });
    const { run: r, config, t0 } = await initAndRun(dir);
    expect(config.service).toMatchObject({ start: 'python3 invoice_worker.py', env: { PYTHONUNBUFFERED: '1' } });
    expect(config.service.mode).toBeUndefined();
    await until('the worker to start', 10_000, () =>
      stored(dir, 'invoice worker started').rows === 1 ? true : undefined,
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (let i = 1; i <= 6; i++)
      drop(dir, { id: `inv-${i}`, lines: [{ qty: 2, unit: 5 }], parts: i % 3 === 0 ? 0 : 1 });
    await until('the invoices to be logged', 10_000, () =>
      stored(dir, 'invoice inv-5 totalled').rows === 1 ? true : undefined,
    );
    for (const i of [1, 2, 4, 5]) {
      expect({ i, ...stored(dir, `invoice inv-${i} totalled`) }).toEqual({ i, rows: 1, records: 1 });
    }
    const patterns = await until('an error pattern', 10_000, () => {
      const list = errorPatterns(dir).filter((p) => /failed/.test(p.template));
      return list.length > 0 && list[0]!.count >= 2 ? list : undefined;
    });
    expect(patterns[0]!.count).toBe(2);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  });

  it('Python worker under a burst: the INFO line right after each logging.exception traceback is stored with its own message', async () => {
    // 40 invoices at once, every third failing: tracebacks and the INFO lines after them reach
    // the capture together, in chunks cut wherever the pipe cuts them.
    const dir = project({ 'invoice_worker.py': PY_WORKER });
    await initAndRun(dir);
    await until('the worker to start', 10_000, () =>
      stored(dir, 'invoice worker started').rows === 1 ? true : undefined,
    );
    const n = 40;
    for (let i = 1; i <= n; i++)
      drop(dir, { id: `inv-${i}`, lines: [{ qty: 1, unit: i }], parts: i % 3 === 0 ? 0 : 1 });
    const failing = [...Array(n).keys()].map((i) => i + 1).filter((i) => i % 3 === 0);
    await until('every invoice to be logged', 20_000, () =>
      stored(dir, ' totalled ').rows + stored(dir, '.json failed').rows >= n ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 500)); // the flush timer of the last record
    const db = openStore(path.join(dir, '.dancer/dancer.db'), { readonly: true });
    try {
      const rows = db
        .prepare(
          "SELECT level, message, stack, count FROM logs WHERE message LIKE '%invoice%' AND message NOT LIKE '%started%' ORDER BY id",
        )
        .all() as Array<{ level: number; message: string; stack: string | null; count: number }>;
      // The worker takes its inbox in name order (1, 10, 11, ...): compare sorted.
      const info = rows.filter((r) => r.level === 30).map((r) => r.message);
      expect(info.sort()).toEqual(
        [...Array(n).keys()]
          .map((i) => i + 1)
          .filter((i) => i % 3 !== 0)
          .map((i) => `invoices: invoice inv-${i} totalled ${i.toFixed(2)}`)
          .sort(),
      );
      const errors = rows.filter((r) => r.level === 50);
      expect(errors.map((r) => r.message).sort()).toEqual(
        failing.map((i) => `invoices: invoice ${i}.json failed`).sort(),
      );
      for (const e of errors) expect(e.stack).toMatch(/^Traceback[\s\S]*\nZeroDivisionError: division by zero$/);
      // Nothing was swallowed into a traceback, nothing stored twice.
      expect(errors.filter((e) => /invoice inv-\d+ totalled \d/.test(e.stack ?? ''))).toEqual([]);
      expect(rows.every((r) => r.count === 1)).toBe(true);
      expect(rows).toHaveLength(n);
    } finally {
      db.close();
    }
  });

  it('a PORT service forced into socket mode stops at once with DANCER_WORKER_PORT_CONFLICT, not a crash loop', async () => {
    const dir = project({ 'package.json': '{"name":"plain","main":"server.js"}', 'server.js': PLAIN_HTTP });
    const port = await freePort();
    writeFileSync(
      path.join(dir, 'dancer.yaml'),
      `service:\n  name: plain\n  start: node server.js\n  listen: [{ name: http, port: ${port} }]\n`,
    );
    const r = run(dir);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toMatch(/DANCER_WORKER_PORT_CONFLICT: .*mode: port.*dancer\/listen/s);
    expect(r.stderr()).not.toMatch(/5 restarts within/);
  });

  for (const variant of ['pretty', 'json'] as const) {
    it(`one log call, one record: pino with ${variant === 'pretty' ? 'pino-pretty' : 'JSON on stdout'} + dancer/pino under dancer run`, async () => {
      const stdoutTarget =
        variant === 'pretty'
          ? "{ target: 'pino-pretty', options: { colorize: false } }"
          : "{ target: 'pino/file', options: { destination: 1 } }";
      const dir = project({
        'package.json': JSON.stringify({ name: 'pino-svc', type: 'module', main: 'server.js' }),
        // The README's snippet, as a service.
        'server.js': `import http from 'node:http';
import pino from 'pino';
const log = pino({ transport: { targets: [${stdoutTarget}, { target: 'dancer/pino', options: { db: '.dancer/dancer.db' } }] } });
http.createServer((req, res) => {
  const id = new URL(req.url, 'http://x').searchParams.get('id');
  if (id === null) { res.end('ok'); return; }
  if (Number(id) % 4 === 0) log.error({ err: new Error('charge declined for ' + id) }, 'payment failed');
  else log.info({ id }, 'payment ' + id + ' accepted');
  res.end('done');
}).listen(process.env.PORT, '127.0.0.1', () => log.info('listening'));
`,
      });
      // The project's dependencies: pino, pino-pretty and this checkout as "dancer".
      mkdirSync(path.join(dir, 'node_modules'));
      for (const name of readdirSync(path.join(ROOT, 'node_modules'))) {
        if (!name.startsWith('.'))
          symlinkSync(path.join(ROOT, 'node_modules', name), path.join(dir, 'node_modules', name));
      }
      symlinkSync(ROOT, path.join(dir, 'node_modules', 'dancer'));
      const { port } = await initAndRun(dir);
      await until('the service to answer', 10_000, async () => ((await get(port, '/')) === 200 ? true : undefined));
      for (let i = 1; i <= 12; i++) expect(await get(port, `/?id=${i}`)).toBe(200);
      await until('the calls to be stored', 10_000, () =>
        stored(dir, 'payment 11 accepted').rows >= 1 ? true : undefined,
      );
      // Let any late stdout copy arrive and its hold pass.
      await new Promise((r) => setTimeout(r, 2000));
      for (const i of [1, 2, 3, 5, 6, 7, 9, 10, 11])
        expect(stored(dir, `payment ${i} accepted`)).toEqual({ rows: 1, records: 1 });
      expect(stored(dir, 'payment failed').records).toBe(3);
      expect(stored(dir, 'listening').records).toBe(1);
      const patterns = errorPatterns(dir).filter((p) => /payment failed/.test(p.template));
      expect(patterns).toHaveLength(1);
      expect(patterns[0]!.count).toBe(3);
    });
  }
});
