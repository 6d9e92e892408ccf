import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { estimateTokens } from '../../src/store/digest.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';
import type { LogRecord } from '../../src/store/records.js';
import { tempDir, waitFor } from '../store/helpers.js';

// Each case spawns the CLI several times; on a loaded 2-core machine one start takes seconds.
vi.setConfig({ testTimeout: 120_000 });

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin', 'dancer.js');
const ANSI = /\x1b\[[0-9;]*m/;
const T = Date.now() - 3_600_000; // an hour ago, so --since 2h includes everything

let dir: string;
let file: string;

/** The environment without colour settings (the test runner may set FORCE_COLOR), plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== 'NO_COLOR' && key !== 'FORCE_COLOR') env[key] = value;
  }
  return { ...env, ...extra };
}

function dancer(args: string[], env: Record<string, string> = {}, cwd = dir) {
  return execa(process.execPath, [bin, ...args], { cwd, reject: false, env: cleanEnv(env), extendEnv: false });
}

const seed: LogRecord[] = [
  { ts: T, level: 30, message: 'server started on :8080', source: 'http', pid: 10, stream: 'stdout' },
  { ts: T + 1000, level: 20, message: 'cache warm', source: 'cache', pid: 10, stream: 'stdout' },
  ...Array.from({ length: 4 }, (_, i) => ({
    ts: T + 2000 + i,
    level: 50,
    message: 'connection refused',
    source: 'db',
    errType: 'Error',
    errMessage: 'connect ECONNREFUSED 127.0.0.1:5432',
    errCode: 'ECONNREFUSED',
    stack: 'Error: connect ECONNREFUSED 127.0.0.1:5432\n    at TCPConnectWrap.afterConnect (node:net:1555:16)',
    pid: 10,
    stream: 'stdout',
  })),
  {
    ts: T + 3000,
    level: 40,
    message: 'slow query, 2 "tables"',
    source: 'db',
    requestId: 'req-1',
    pid: 10,
    stream: 'stdout',
  },
  {
    ts: T + 4000,
    level: 30,
    message: 'request completed',
    source: 'http',
    requestId: 'req-1',
    httpStatus: 200,
    pid: 10,
    stream: 'stdout',
  },
  { ts: T + 5000, level: 60, message: 'out of memory\nsecond line', source: 'worker', pid: 11, stream: 'stderr' },
];

beforeAll(() => {
  if (!existsSync(path.join(root, 'dist', 'cli', 'logs.js'))) throw new Error('Run `npm run build` first.');
  dir = tempDir();
  file = path.join(dir, 'logs.db');
  const db = openStore(file);
  const writer = new LogWriter(db);
  for (const r of seed) writer.write(r);
  writer.countDropped('queue_overflow', 3);
  writer.close();
  db.close();
});

const ndjson = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('dancer logs list', () => {
  it('prints a plain table, newest last, ×N for collapsed rows, without colour when not a TTY', async () => {
    const r = await dancer(['logs', 'list', '--db', file]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toMatch(ANSI);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^TIME \(UTC\)\s+LEVEL\s+SOURCE\s+MESSAGE/);
    expect(lines).toHaveLength(7);
    expect(lines[1]).toMatch(/INFO\s+http\s+server started on :8080$/);
    expect(lines[3]).toMatch(/ERROR\s+db\s+connection refused ×4 Error: connect ECONNREFUSED 127\.0\.0\.1:5432$/);
    expect(lines[4]).toContain('req=req-1');
    expect(lines[6]).toMatch(/FATAL\s+worker\s+out of memory \(\+1 lines\)$/);
  });

  it('colours with FORCE_COLOR and never with NO_COLOR', async () => {
    expect((await dancer(['logs', 'list', '--db', file], { FORCE_COLOR: '1' })).stdout).toMatch(ANSI);
    expect((await dancer(['logs', 'list', '--db', file], { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout).not.toMatch(
      ANSI,
    );
  });

  it('--json prints NDJSON, one record per line, newest last', async () => {
    const r = await dancer(['logs', 'list', '--db', file, '--json', '--limit', '3']);
    expect(r.exitCode).toBe(0);
    const records = ndjson(r.stdout);
    expect(records.map((x) => x.message)).toEqual([
      'slow query, 2 "tables"',
      'request completed',
      'out of memory\nsecond line',
    ]);
    expect(records[0]).toMatchObject({ levelName: 'warn', requestId: 'req-1', count: 1, source: 'db' });
    expect(records[0]?.time).toBe(new Date(T + 3000).toISOString());
  });

  it('filters by --level, --source, --request, --since and --until', async () => {
    const msgs = async (...args: string[]) => {
      const r = await dancer(['logs', 'list', '--db', file, '--json', ...args]);
      expect(r.exitCode, r.stderr).toBe(0);
      return ndjson(r.stdout).map((x) => x.message);
    };
    expect(await msgs('--level', 'error')).toEqual(['connection refused', 'out of memory\nsecond line']);
    expect(await msgs('--level', 'warn', '--source', 'db')).toEqual(['connection refused', 'slow query, 2 "tables"']);
    expect(await msgs('--request', 'req-1')).toEqual(['slow query, 2 "tables"', 'request completed']);
    expect(await msgs('--since', '2h')).toHaveLength(6);
    expect(await msgs('--since', new Date(T + 4000).toISOString())).toEqual([
      'request completed',
      'out of memory\nsecond line',
    ]);
    expect(await msgs('--until', new Date(T + 1000).toISOString())).toEqual(['server started on :8080', 'cache warm']);
    expect(await msgs('--source', 'w*')).toEqual(['out of memory\nsecond line']);
  });

  it('rejects bad arguments with a clear error and exit code 2', async () => {
    const time = await dancer(['logs', 'list', '--db', file, '--since', 'yesterday']);
    expect(time.exitCode).toBe(2);
    expect(time.stderr).toContain('DANCER_TIME_INVALID');
    const level = await dancer(['logs', 'list', '--db', file, '--level', 'loud']);
    expect(level.exitCode).toBe(2);
    expect(level.stderr).toContain('DANCER_USAGE');
    const limit = await dancer(['logs', 'list', '--db', file, '--limit', '0', '--json']);
    expect(limit.exitCode).toBe(2);
    expect(JSON.parse(limit.stderr).error.code).toBe('DANCER_USAGE');
  });

  it('fails clearly when there is no database', async () => {
    const r = await dancer(['logs', 'list', '--db', path.join(dir, 'missing.db')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('DANCER_STORE_OPEN_FAILED');
    expect(r.stderr).toContain('missing.db');
    expect(existsSync(path.join(dir, 'missing.db'))).toBe(false);
  });

  it('finds the database from store.path in dancer.yaml, else .dancer/dancer.db', { timeout: 60_000 }, async () => {
    const project = tempDir();
    writeFileSync(path.join(project, 'dancer.yaml'), `store:\n  path: ${JSON.stringify(file)}\n`);
    const r = await dancer(['logs', 'list', '--json'], {}, project);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(ndjson(r.stdout)).toHaveLength(6);
    const bare = tempDir();
    const none = await dancer(['logs', 'list'], {}, bare);
    expect(none.stderr).toContain(path.join(bare, '.dancer', 'dancer.db'));
  });

  it('reads while another connection holds the write lock (WAL)', async () => {
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    other.prepare("INSERT INTO logs (ts, last_ts, level, message) VALUES (1, 1, 30, 'uncommitted')").run();
    try {
      const r = await dancer(['logs', 'list', '--db', file, '--json']);
      expect(r.exitCode).toBe(0);
      expect(ndjson(r.stdout).map((x) => x.message)).not.toContain('uncommitted');
      expect(ndjson(r.stdout)).toHaveLength(6);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });
});

describe('dancer logs search', () => {
  it('matches phrases, prefixes and boolean queries', async () => {
    const msgs = async (q: string) => {
      const r = await dancer(['logs', 'search', q, '--db', file, '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      return ndjson(r.stdout).map((x) => x.message);
    };
    expect(await msgs('"connection refused"')).toEqual(['connection refused']);
    expect(await msgs('memor*')).toEqual(['out of memory\nsecond line']);
    expect(await msgs('slow OR cache')).toEqual(['cache warm', 'slow query, 2 "tables"']);
    expect(await msgs('"127.0.0.1:5432"')).toEqual(['connection refused']);
    const human = await dancer(['logs', 'search', 'refused', '--db', file]);
    expect(human.stdout).toContain('connection refused ×4');
  });

  it('searches a query that is not FTS syntax as a literal phrase, and says so; an empty one is DANCER_QUERY_INVALID', async () => {
    const r = await dancer(['logs', 'search', '127.0.0.1:5432', '--db', file]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('searched for it as a literal phrase');
    expect(r.stdout).toContain('connection refused');
    const json = await dancer(['logs', 'search', '"open', '--db', file, '--json']);
    expect(json.exitCode).toBe(0);
    for (const line of json.stdout.split('\n').filter(Boolean)) {
      expect(JSON.parse(line).search).toEqual({ literal: true, query: '"""open"' });
    }
    const empty = await dancer(['logs', 'search', ' ', '--db', file, '--json']);
    const error = JSON.parse(empty.stderr).error;
    expect(error.code).toBe('DANCER_QUERY_INVALID');
    expect(error.details.hint).toContain('prefix*');
    expect(empty.stdout).toBe('');
  });
});

describe('dancer logs errors', () => {
  it('groups error records with counts, most recent last', async () => {
    const human = await dancer(['logs', 'errors', '--db', file]);
    const lines = human.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^COUNT\s+LEVEL\s+FIRST \(UTC\)\s+LAST \(UTC\)\s+SOURCE\s+MESSAGE/);
    expect(lines[1]).toMatch(/^×4\s+ERROR .* db\s+connection refused Error: connect ECONNREFUSED/);
    expect(lines[2]).toMatch(/^×1\s+FATAL .* worker\s+out of memory/);
    const groups = ndjson((await dancer(['logs', 'errors', '--db', file, '--json'])).stdout);
    expect(groups.map((g) => [g.records, g.levelName])).toEqual([
      [4, 'error'],
      [1, 'fatal'],
    ]);
    expect(groups[0]).toMatchObject({
      rows: 1,
      first: new Date(T + 2000).toISOString(),
      last: new Date(T + 2003).toISOString(),
    });
  });
});

describe('dancer logs stats', () => {
  it('--json prints one object with exactly rows, records, levels, dropped, dbBytes, oldest, newest', async () => {
    const r = await dancer(['logs', 'stats', '--db', file, '--json']);
    expect(r.exitCode).toBe(0);
    const stats = JSON.parse(r.stdout);
    expect(Object.keys(stats)).toEqual(['rows', 'records', 'levels', 'dropped', 'dbBytes', 'oldest', 'newest']);
    expect(stats).toMatchObject({
      rows: 6,
      records: 9,
      levels: { trace: 0, debug: 1, info: 2, warn: 1, error: 4, fatal: 1 },
      dropped: { queue_overflow: 3 },
      oldest: new Date(T).toISOString(),
      newest: new Date(T + 5000).toISOString(),
    });
    expect(stats.dbBytes).toBe(readFileSync(file).length);
    const human = await dancer(['logs', 'stats', '--db', file]);
    expect(human.stdout).toMatch(/^records\s+9$/m);
    expect(human.stdout).toMatch(/^dropped\s+queue_overflow 3$/m);
  });
});

describe('dancer logs export', () => {
  it('json: NDJSON of every matching record, oldest first, to a file with -o', async () => {
    const out = path.join(dir, 'export.ndjson');
    const r = await dancer(['logs', 'export', '--db', file, '--format', 'json', '-o', out]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('Wrote 6 records');
    const records = ndjson(readFileSync(out, 'utf8'));
    expect(records.map((x) => x.id)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('csv: a header and one quoted line per record', async () => {
    const r = await dancer(['logs', 'export', '--db', file, '--format', 'csv', '--level', 'warn']);
    const lines = r.stdout.split('\r\n');
    expect(lines[0]).toMatch(/^id,time,level_name,ts,last_ts,count,level,source,message,/);
    expect(r.stdout).toContain('"slow query, 2 ""tables"""');
    expect(r.stdout).toContain('"out of memory\nsecond line"');
  });

  it('claude: an error summary then records, within --max-tokens', async () => {
    const r = await dancer(['logs', 'export', '--db', file, '--format', 'claude', '--max-tokens', '400']);
    expect(r.exitCode).toBe(0);
    expect(estimateTokens(r.stdout)).toBeLessThanOrEqual(400);
    expect(r.stdout).toMatch(/^# Log digest\n9 records in 6 rows/);
    expect(r.stdout.indexOf('## Errors')).toBeLessThan(r.stdout.indexOf('## Recent records'));
    expect(r.stdout).toContain('- 4× error connection refused');
    const tiny = await dancer(['logs', 'export', '--db', file, '--format', 'claude', '--max-tokens', '60']);
    expect(estimateTokens(tiny.stdout)).toBeLessThanOrEqual(60);
  });

  it('stops quietly when the reader closes the pipe early (| head)', async () => {
    const big = path.join(tempDir(), 'big.db');
    const db = openStore(big);
    const writer = new LogWriter(db, { maxBatchRecords: 5000 });
    for (let i = 0; i < 20_000; i++) writer.write({ ts: T + i, level: 30, message: `line ${i} ${'x'.repeat(80)}` });
    writer.close();
    db.close();
    for (const args of [['export'], ['list', '--limit', '20000']]) {
      const child = spawn(process.execPath, [bin, 'logs', ...args, '--db', big], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const exited = once(child, 'exit');
      await once(child.stdout, 'data');
      child.stdout.destroy();
      const [code] = await exited;
      expect({ args, code, stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  });

  it('rejects an unknown format', async () => {
    const r = await dancer(['logs', 'export', '--db', file, '--format', 'xml']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('DANCER_USAGE');
  });
});

describe('dancer logs follow', () => {
  let db: Db;
  afterAll(() => db?.close());

  it('prints the last records, then streams new ones as they are written, and stops on SIGINT', async () => {
    const followed = path.join(tempDir(), 'follow.db');
    db = openStore(followed);
    const writer = new LogWriter(db);
    writer.write({ ts: Date.now(), level: 30, message: 'before follow', pid: 1, stream: 'stdout' });
    writer.flush();
    const child = spawn(process.execPath, [bin, 'logs', 'follow', '--db', followed, '--json', '--interval', '20'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv({ NO_COLOR: '1' }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = once(child, 'exit');
    try {
      await waitFor(() => (stderr.includes('Following') ? true : undefined), 30_000, 'follow to start');
      writer.write({ ts: Date.now(), level: 50, message: 'live one', pid: 1, stream: 'stdout' });
      writer.write({ ts: Date.now(), level: 30, message: 'live two', pid: 1, stream: 'stdout' });
      writer.flush();
      await waitFor(() => (stdout.includes('live two') ? true : undefined), 30_000, 'the new records');
    } finally {
      child.kill('SIGINT');
    }
    const [code] = await exited;
    expect(code).toBe(0);
    expect(ndjson(stdout).map((x) => x.message)).toEqual(['before follow', 'live one', 'live two']);
    writer.close();
  }, 90_000);
});
