import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ThreadedIngest } from '../../src/cli/ingest-threads.js';
import { configSchema } from '../../src/config/index.js';
import { DancerError } from '../../src/errors.js';
import { dancer, query, ROOT, tempDir } from '../capture/helpers.js';

/** `shared/data/loghub` beside the clone or beside one of its parent folders (a worktree). */
function findLoghub(): string | undefined {
  let dir = ROOT;
  for (let i = 0; i < 4; i++) {
    const candidate = path.join(dir, 'shared/data/loghub');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}
const LOGHUB = findLoghub();
/** Four whole `dancer ingest` processes of ~16k lines each, on a shared 2-core machine. */
const SLOW = 240_000;
const WORKER = pathToFileURL(path.join(ROOT, 'dist/cli/ingest-worker.js'));

// Many small batches (so batch boundaries, merges across batches and collapsed runs across
// batches all occur), and no batch timer: with it, the one-thread path cuts batches by wall
// clock under load, and then not even two one-thread runs agree.
const YAML = 'capture:\n  maxRecordBytes: 2048\nstore:\n  batch:\n    maxRecords: 250\n    maxDelayMs: 3600000\n';

/** Everything ingest stores that does not depend on the wall clock. */
function stored(db: string, withTime: boolean) {
  const logCols = `${withTime ? 'ts, last_ts, ' : ''}id, count, level, source, message, template_id, err_type,
    err_message, err_code, err_hash, stack, pid, thread, hostname, request_id, session_id, user_id, tenant_id,
    trace_id, span_id, http_method, http_route, http_status, duration_ms, mem_bytes, file, line, func, stream,
    flags, original_bytes, extra`;
  return {
    logs: query(db, `SELECT ${logCols} FROM logs ORDER BY id`),
    // status and first/last seen of text lines follow the wall clock (no time in the line).
    templates: query(
      db,
      `SELECT id, text, tokens, token_count, fingerprint, count, max_level, example_log_ids, merged_into
       ${withTime ? ', first_seen, last_seen' : ''} FROM templates ORDER BY id`,
    ),
    buckets: withTime
      ? query(db, 'SELECT * FROM template_buckets ORDER BY template_id, minute')
      : query(
          db,
          'SELECT template_id, sum(count) AS n FROM template_buckets GROUP BY template_id ORDER BY template_id',
        ),
    dropped: query(db, 'SELECT reason, count FROM dropped ORDER BY reason'),
    fts: query(db, `SELECT rowid FROM logs_fts WHERE logs_fts MATCH 'a* OR e* OR o* OR s* OR t* OR 1*' ORDER BY rowid`),
  };
}

/** Ingest `file` with one thread and with two into fresh stores; both summaries and stores. */
async function ingestBoth(file: string, yaml = YAML) {
  const dir = tempDir('dancer-ingest-threads-');
  writeFileSync(path.join(dir, 'dancer.yaml'), yaml);
  const out: Array<{ db: string; summary: Record<string, unknown> }> = [];
  for (const threads of ['1', '2']) {
    const db = path.join(dir, `t${threads}.db`);
    const run = await dancer(['ingest', file, '--db', db, '--json', '--threads', threads], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    out.push({ db, summary: JSON.parse(run.stdout) });
  }
  return { dir, one: out[0] as (typeof out)[0], two: out[1] as (typeof out)[0] };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A malformed, hostile mix: JSON of several shapes (pino, bunyan-ish, arrays, deep nesting),
 * Java and Python traces split over lines, invalid UTF-8, NUL bytes, ANSI colours, CRLF, lines
 * past maxRecordBytes and one past the read chunk, secrets for the redactor, runs of identical
 * lines, and a last line without a newline.
 */
function hostileMix(lines: number, realLines: string[]): Buffer {
  const rand = rng(7);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const parts: Buffer[] = [];
  const text = (s: string) => parts.push(Buffer.from(s));
  let t = Date.UTC(2026, 0, 2, 3, 4, 5);
  let deep = '"x"';
  for (let i = 0; i < 80; i++) deep = `{"d":${deep}}`;
  for (let n = 0; n < lines; n++) {
    t += Math.floor(rand() * 1500);
    const r = rand();
    const id = Math.floor(rand() * 1e6);
    if (r < 0.25 && realLines.length > 0) text(`${pick(realLines)}\n`);
    else if (r < 0.4)
      text(
        `${JSON.stringify({ level: pick([20, 30, 30, 40, 50]), time: t, pid: 7, hostname: 'h', name: pick(['api', 'db']), msg: pick([`user ${id} logged in`, `fetched ${id % 97} rows`, 'cache warm', `job ${id.toString(36)} done in ${id % 1000} ms`]), reqId: rand() < 0.3 ? `r${id}` : undefined })}\n`,
      );
    else if (r < 0.45)
      text(
        `${JSON.stringify({ level: 50, time: t, msg: 'request failed', err: { type: pick(['TypeError', 'RangeError']), message: `bad ${pick(['id', 'sku', 'offset'])}`, stack: `Error: bad\n    at f (/srv/app/${pick(['a', 'b'])}.js:${id % 50}:3)\n    at g (/srv/app/c.js:1:1)` } })}\n`,
      );
    else if (r < 0.5)
      text(
        `Exception in thread "main" java.lang.IllegalStateException: pool ${id % 5} closed\n\tat com.x.Pool.get(Pool.java:${id % 300})\n\tat com.x.Main.main(Main.java:9)\n`,
      );
    else if (r < 0.54)
      text(
        `Traceback (most recent call last):\n  File "/app/w.py", line ${id % 90}, in run\n    x = 1 / n\nZeroDivisionError: division by zero\n`,
      );
    else if (r < 0.58) parts.push(Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x20, 0xc3, 0x28, 0x0a]));
    else if (r < 0.61) text(`nul\u0000byte ${id}\n`);
    else if (r < 0.64) text(`\x1b[31mERROR\x1b[0m coloured failure ${id % 4}\r\n`);
    else if (r < 0.66) text(`WARN ${'long '.repeat(200 + (id % 900))}end\n`);
    else if (r < 0.68) text(`{"level":30,"time":${t},"msg":"deep","payload":${deep}}\n`);
    else if (r < 0.7) text(`${pick(['[1,2,3]', '42', '"just a string"', 'null', '{"broken": tru'])}\n`);
    else if (r < 0.74)
      text(
        `${pick([`password=hunter${id}`, `Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.${id}abcdefghijkl.sig`, `key AKIAIOSFODNN7EXAMPLE for user${id}@example.com`, `card 4111 1111 1111 1111 charged ${id % 100}`])}\n`,
      );
    else if (r < 0.8) {
      const run = 2 + Math.floor(rand() * 30);
      for (let k = 0; k < run; k++) text('connection pool exhausted, retrying\n');
    } else if (r < 0.82) text('\n');
    else text(`${pick(['INFO', 'DEBUG', 'ERROR'])} worker-${id % 8} processed batch ${id} (${id % 13} items)\n`);
  }
  text(`ERROR ${'y'.repeat(300_000)} past the read chunk\n`);
  text('{"level":50,"msg":"truncated at end of inp');
  return Buffer.concat(parts);
}

function loghubLines(): string[] {
  if (!LOGHUB) return [];
  const lines: string[] = [];
  for (const system of readdirSync(LOGHUB).sort()) {
    const dir = path.join(LOGHUB, system);
    if (!existsSync(path.join(dir, 'content.txt'))) continue;
    for (const f of readdirSync(dir)) {
      if (f.endsWith('_2k.log')) lines.push(...readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
    }
  }
  return lines;
}

describe('dancer ingest --threads 2', () => {
  it.skipIf(LOGHUB === undefined)(
    "stores the same rows, template ids, templates and buckets as one thread: Loghub's raw logs",
    async () => {
      const dir = tempDir('dancer-ingest-loghub-');
      const file = path.join(dir, 'loghub.log');
      writeFileSync(file, `${loghubLines().join('\n')}\n`);
      const { one, two } = await ingestBoth(file);
      expect(two.summary.threads).toBe(2);
      expect(one.summary.threads).toBe(1);
      const { durationMs: _a, threads: _b, db: _c, ...s1 } = one.summary;
      const { durationMs: _d, threads: _e, db: _f, ...s2 } = two.summary;
      expect(s2).toEqual(s1);
      const a = stored(one.db, false);
      const b = stored(two.db, false);
      expect(a.logs.length).toBeGreaterThan(15_000);
      // Merges happened (the snapshot's merge resolution is exercised).
      expect(query(one.db, 'SELECT 1 FROM templates WHERE merged_into IS NOT NULL').length).toBeGreaterThan(0);
      for (const table of Object.keys(a))
        expect({ table, rows: b[table as keyof typeof b] }).toEqual({ table, rows: a[table as keyof typeof a] });
    },
    SLOW,
  );

  it(
    'stores the same as one thread on a malformed, hostile mix',
    async () => {
      const dir = tempDir('dancer-ingest-hostile-');
      const file = path.join(dir, 'mix.log');
      writeFileSync(file, hostileMix(8_000, loghubLines()));
      const { one, two } = await ingestBoth(file);
      const { durationMs: _a, threads: _b, db: _c, ...s1 } = one.summary;
      const { durationMs: _d, threads: _e, db: _f, ...s2 } = two.summary;
      expect(s2).toEqual(s1);
      const a = stored(one.db, false);
      const b = stored(two.db, false);
      // The mix did what it is for: truncation, bad UTF-8, multi-line records, collapsed runs, redaction.
      const flags = query<{ f: number }>(one.db, 'SELECT flags AS f FROM logs').map((r) => r.f);
      for (const bit of [1, 2, 4, 8, 16, 32, 64, 128]) expect(flags.some((f) => (f & bit) !== 0)).toBe(true);
      expect(query(one.db, 'SELECT 1 FROM logs WHERE count > 1').length).toBeGreaterThan(0);
      expect(query(one.db, "SELECT 1 FROM logs WHERE message LIKE '%[REDACTED%'").length).toBeGreaterThan(0);
      expect(query(one.db, "SELECT 1 FROM logs WHERE message LIKE '%hunter%'")).toEqual([]);
      for (const table of Object.keys(a))
        expect({ table, rows: b[table as keyof typeof b] }).toEqual({ table, rows: a[table as keyof typeof a] });
    },
    SLOW,
  );

  it(
    'stores the same as one thread on timed JSON, time columns and per-minute buckets included',
    async () => {
      const dir = tempDir('dancer-ingest-json-');
      const rand = rng(99);
      const lines: string[] = [];
      let t = Date.UTC(2026, 5, 1);
      for (let i = 0; i < 6_000; i++) {
        t += Math.floor(rand() * 40);
        const id = Math.floor(rand() * 1e5);
        const r = rand();
        lines.push(
          JSON.stringify(
            r < 0.5
              ? {
                  level: 30,
                  time: t,
                  req: { method: 'GET', url: `/items/${id}` },
                  res: { statusCode: 200 },
                  responseTime: id % 700,
                  msg: 'request completed',
                }
              : r < 0.9
                ? {
                    level: r < 0.7 ? 20 : 40,
                    time: t,
                    name: 'svc',
                    msg: `step ${id % 7} of order ${id} took ${id % 90} ms`,
                  }
                : {
                    level: 50,
                    time: t,
                    msg: 'failed',
                    err: {
                      type: 'Error',
                      message: `no stock for ${id % 3}`,
                      stack: `Error: x\n    at s (/a/s.js:${id % 4}:1)`,
                    },
                  },
          ),
        );
      }
      const file = path.join(dir, 'timed.ndjson');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const { one, two } = await ingestBoth(file);
      const a = stored(one.db, true);
      const b = stored(two.db, true);
      expect(a.buckets.length).toBeGreaterThan(1);
      for (const table of Object.keys(a))
        expect({ table, rows: b[table as keyof typeof b] }).toEqual({ table, rows: a[table as keyof typeof a] });
    },
    SLOW,
  );

  it('reports progress and the summary on stderr, and refuses a bad --threads', async () => {
    const dir = tempDir('dancer-ingest-args-');
    const file = path.join(dir, 'x.log');
    writeFileSync(file, 'INFO one\nINFO two\n');
    const db = path.join(dir, 'x.db');
    const run = await dancer(['ingest', file, '--db', db, '--threads', '2'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/ingested 2 records \(2 rows\) from .*x\.log/);
    const bad = await dancer(['ingest', file, '--db', db, '--threads', '3'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('DANCER_USAGE');
    // A pipe is never slowed down, so it cannot wait for a worker.
    const pipe = await dancer(['ingest', '-', '--db', db, '--threads', '2'], { cwd: dir, input: 'INFO x\n' });
    expect(pipe.code).toBe(2);
    expect(pipe.stderr).toContain('DANCER_USAGE');
  });
});

describe('ThreadedIngest', () => {
  const config = configSchema.parse({});
  const base = {
    config,
    maxRecordBytes: 1024 * 1024,
    maxBatchRecords: 500,
    maxBatchDelayMs: 200,
    redact: false as const,
    live: false,
  };

  it('keeps input in flight under its bound: reading waits for the writer', async () => {
    const dir = tempDir('dancer-threads-bound-');
    const dbPath = path.join(dir, 'b.db');
    const reports: DancerError[] = [];
    const bound = 96 * 1024;
    const ingest = ThreadedIngest.open({
      ...base,
      dbPath,
      maxInFlightBytes: bound,
      workerUrl: WORKER,
      onReport: (e) => reports.push(e),
    });
    let expected = 0;
    let peak = 0;
    for (let c = 0; c < 120; c++) {
      const lines: string[] = [];
      for (let i = 0; i < 400; i++) lines.push(`INFO chunk ${c} line ${i} value ${(c * 7919 + i) % 1000}`);
      expected += lines.length;
      await ingest.write(Buffer.from(`${lines.join('\n')}\n`));
      peak = Math.max(peak, ingest.inFlightBytes);
      expect(ingest.inFlightBytes).toBeLessThan(bound);
    }
    await ingest.end();
    expect(reports).toEqual([]);
    expect(ingest.stats.records).toBe(expected);
    expect(query<{ n: number }>(dbPath, 'SELECT sum(count) AS n FROM logs')[0]?.n).toBe(expected);
    expect(peak).toBeGreaterThan(0);
  });

  it('turns a crash of the worker thread into DANCER_INGEST_WORKER_FAILED, keeping what was stored', async () => {
    const dir = tempDir('dancer-threads-crash-');
    const dbPath = path.join(dir, 'c.db');
    const ingest = ThreadedIngest.open({
      ...base,
      dbPath,
      workerUrl: pathToFileURL(path.join(ROOT, 'test/cli/fixtures/crashing-ingest-worker.mjs')),
      onReport: () => {},
    });
    let failure: unknown;
    try {
      for (let i = 0; i < 50; i++) await ingest.write(Buffer.from(`INFO line ${i}\n`));
      await ingest.end();
    } catch (error) {
      failure = error;
    } finally {
      ingest.close();
    }
    expect(failure).toBeInstanceOf(DancerError);
    expect((failure as DancerError).code).toBe('DANCER_INGEST_WORKER_FAILED');
    expect((failure as DancerError).message).toContain('boom: simulated parser bug');
    expect((failure as DancerError).message).toContain('1 records stored');
    // The batch written before the crash is committed.
    expect(query(dbPath, 'SELECT message FROM logs')).toEqual([{ message: 'first record' }]);
  });

  it('fails with the store error, typed, when the store cannot be opened', () => {
    const dir = tempDir('dancer-threads-open-');
    const notADir = path.join(dir, 'file');
    writeFileSync(notADir, 'x');
    let failure: unknown;
    try {
      ThreadedIngest.open({ ...base, dbPath: path.join(notADir, 'db.sqlite'), workerUrl: WORKER, onReport: () => {} });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(DancerError);
    expect((failure as DancerError).code).toBe('DANCER_STORE_OPEN_FAILED');
  });
});
