import { appendFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RECORD_FLAGS } from '../../src/store/records.js';
import { dancer, query, ROOT, start, tempDir, waitFor } from '../capture/helpers.js';

interface Row {
  id: number;
  level: number;
  message: string;
  err_type: string | null;
  err_message: string | null;
  stack: string | null;
  flags: number;
  original_bytes: number | null;
  stream: string;
  extra: string | null;
  count: number;
}

function workspace(yaml = ''): { dir: string; db: string } {
  const dir = tempDir('dancer-ingest-');
  writeFileSync(path.join(dir, 'dancer.yaml'), yaml);
  return { dir, db: path.join(dir, 'logs.db') };
}

describe('dancer ingest', () => {
  it('stores every kind of line from stdin, bad input included, each flagged, nothing lost', async () => {
    const { dir, db } = workspace('capture:\n  maxRecordBytes: 2048\n');
    let deep = '"bottom"';
    for (let i = 0; i < 50; i++) deep = `{"d":${deep}}`;
    const input = Buffer.concat([
      Buffer.from(
        [
          '{"level":30,"time":1767323045000,"pid":5,"hostname":"h","name":"api","msg":"pino line","reqId":"r1"}',
          '{"name":"bun","hostname":"h","pid":6,"level":40,"msg":"bunyan line","time":"2026-01-02T03:04:05.000Z","v":0}',
          '2026-01-02 03:04:05 ERROR plain failure',
          'TypeError: x is not a function',
          '    at handler (/app/a.js:1:1)',
          '    at next (/app/b.js:2:2)',
          'Traceback (most recent call last):',
          '  File "w.py", line 1, in <module>',
          'ZeroDivisionError: division by zero',
          '\x1b[33mWARN\x1b[0m coloured',
          '[1,2,3]',
          `{"level":30,"msg":"deep","payload":${deep}}`,
          `ERROR ${'z'.repeat(10_000)}`,
          '',
        ].join('\n'),
      ),
      Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0x20, 0x75, 0x74, 0x66, 0x38, 0x0a]), // "bad \xff utf8"
      Buffer.from('nul\u0000byte\n{"level":50,"msg":"truncated at EO'),
    ]);
    const run = await dancer(['ingest', '-', '--db', db, '--json'], { cwd: dir, input });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ input: 'stdin', db, records: 12, rows: 12, dropped: {} });
    const rows = query<Row>(db, 'SELECT * FROM logs ORDER BY id');
    const flagsOf = (m: string) => rows.find((r) => r.message.startsWith(m))?.flags ?? -1;
    expect(rows.map((r) => r.message.slice(0, 30))).toEqual([
      'pino line',
      'bunyan line',
      'plain failure',
      'TypeError: x is not a function',
      'ZeroDivisionError: division by',
      'coloured',
      '[1,2,3]',
      'deep',
      `ERROR ${'z'.repeat(24)}`,
      'bad \ufffd utf8',
      'nulbyte',
      '{"level":50,"msg":"truncated a',
    ]);
    expect(rows).toHaveLength(12);
    expect(rows[0]).toMatchObject({ level: 30, stream: 'ingest' });
    expect(rows[3]).toMatchObject({ level: 50, err_type: 'TypeError', flags: RECORD_FLAGS.multiline });
    expect(rows[3]?.stack?.split('\n')).toHaveLength(3);
    expect(rows[4]).toMatchObject({ level: 50, err_type: 'ZeroDivisionError', err_message: 'division by zero' });
    expect(flagsOf('coloured')).toBe(RECORD_FLAGS.ansiStripped);
    expect(flagsOf('[1,2,3]')).toBe(RECORD_FLAGS.jsonNotObject);
    expect(flagsOf('deep')).toBe(RECORD_FLAGS.deepJson);
    const long = rows[8] as Row;
    expect(long.flags).toBe(RECORD_FLAGS.truncated);
    expect(long.original_bytes).toBe(10_006);
    expect(Buffer.byteLength(long.message)).toBeLessThanOrEqual(2048);
    expect(long.level).toBe(50);
    expect(flagsOf('bad')).toBe(RECORD_FLAGS.invalidUtf8);
    expect(flagsOf('nulbyte')).toBe(RECORD_FLAGS.nulRemoved);
    expect(flagsOf('{"level":50,"msg":"truncated')).toBe(RECORD_FLAGS.partialLine);
    expect(summary.lines).toBe(16);
  });

  it('assigns templates at ingest as `dancer run` does; `dancer patterns` lists them with the detector decisions', async () => {
    const { dir, db } = workspace();
    const lines: string[] = [];
    for (let i = 0; i < 30; i++) lines.push(`ERROR payment ${1000 + i} failed: card declined by issuer ${i % 4}`);
    for (let i = 0; i < 5; i++) lines.push(`INFO user u${i} logged in from 10.0.0.${i}`);
    const run = await dancer(['ingest', '-', '--db', db, '--json'], { cwd: dir, input: `${lines.join('\n')}\n` });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // Every stored row carries a template.
    expect(query(db, 'SELECT count(*) AS n FROM logs WHERE template_id IS NULL')).toEqual([{ n: 0 }]);
    const list = await dancer(['patterns', '--db', db, '--json'], { cwd: dir });
    expect(list.stderr).toBe('');
    const patterns = JSON.parse(list.stdout) as Array<{
      id: number;
      count: number;
      maxLevel: string;
      template: string;
    }>;
    expect(patterns.map((p) => [p.count, p.maxLevel]).sort()).toEqual([
      [30, 'error'],
      [5, 'info'],
    ]);
    const payment = patterns.find((p) => p.count === 30);
    expect(payment?.template).toContain('payment');
    // The detector ran at ingest: a new error pattern recurring more than 10 times fired.
    const why = await dancer(['patterns', 'why', String(payment?.id), '--db', db, '--json'], { cwd: dir });
    const decisions = (JSON.parse(why.stdout) as { decisions: Array<{ rule: string; outcome: string }> }).decisions;
    expect(decisions.some((d) => d.rule === 'new_pattern' && d.outcome === 'fire')).toBe(true);
    // A second ingest keeps the ids: the same lines land on the same templates.
    await dancer(['ingest', '-', '--db', db], { cwd: dir, input: `${lines[0]}\n` });
    const again = JSON.parse(
      (await dancer(['patterns', '--db', db, '--json'], { cwd: dir })).stdout,
    ) as typeof patterns;
    expect(again.find((p) => p.id === payment?.id)?.count).toBe(31);
  });

  it('names each error pattern by what differs: one log text, three errors, three patterns in `dancer patterns`', async () => {
    const { dir, db } = workspace();
    const errors = [
      { type: 'TypeError', message: "Cannot read properties of undefined (reading 'percent')" },
      { type: 'Error', message: 'unsupported currency EUR' },
      { type: 'RangeError', message: 'Invalid array length' },
    ];
    const lines = Array.from({ length: 30 }, (_, i) => {
      const err = errors[i % 3] as { type: string; message: string };
      return JSON.stringify({
        level: 50,
        time: Date.now(),
        msg: 'checkout failed',
        err: { ...err, stack: `${err.type}: ${err.message}\n    at handler (/srv/app/src/server.ts:40:11)` },
      });
    });
    await dancer(['ingest', '-', '--db', db], { cwd: dir, input: `${lines.join('\n')}\n` });
    const list = await dancer(['patterns', '--db', db], { cwd: dir, env: { NO_COLOR: '1' } });
    expect(list.stderr).toBe('');
    expect(list.stdout).toContain(
      "checkout failed: TypeError: Cannot read properties of undefined (reading 'percent')",
    );
    expect(list.stdout).toContain('checkout failed: Error: unsupported currency EUR');
    expect(list.stdout).toContain('checkout failed: RangeError: Invalid array length');
  });

  it('reads a file at the store pace: a small queue loses nothing', async () => {
    const { dir, db } = workspace('capture:\n  queueMaxRecords: 500\nstore:\n  batch:\n    maxRecords: 500\n');
    const file = path.join(dir, 'big.log');
    const n = 30_000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(JSON.stringify({ level: i % 10 === 0 ? 50 : 20, msg: `line ${i}`, i }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const run = await dancer(['ingest', file, '--db', db, '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ records: n, rows: n, dropped: {}, lines: n });
    expect(query(db, 'SELECT count(*) AS n FROM logs')).toEqual([{ n }]);
    expect(query(db, 'SELECT count(*) AS n FROM dropped')).toEqual([{ n: 0 }]);
  });

  it('never slows a pipe down: when the store falls behind it drops the least important records and counts them', async () => {
    const { dir, db } = workspace('capture:\n  queueMaxRecords: 50\n');
    const n = 40_000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(JSON.stringify({ level: i % 100 === 0 ? 50 : 30, msg: `line ${i}` }));
    const run = await dancer(['ingest', '-', '--db', db, '--json'], { cwd: dir, input: `${lines.join('\n')}\n` });
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.dropped.overload).toBeGreaterThan(0);
    expect(summary.records + summary.dropped.overload).toBe(n);
    expect(query(db, 'SELECT count(*) AS n FROM logs')).toEqual([{ n: summary.records }]);
    expect(query(db, "SELECT count FROM dropped WHERE reason = 'overload'")).toEqual([
      { count: summary.dropped.overload },
    ]);
    // Errors go last: a larger share of the errors than of the rest was kept.
    const [kept] = query<{ errors: number; infos: number }>(
      db,
      'SELECT sum(level = 50) AS errors, sum(level = 30) AS infos FROM logs',
    );
    expect((kept?.errors ?? 0) / (n / 100)).toBeGreaterThan((kept?.infos ?? 0) / (n - n / 100));
  });

  it('--follow tails a growing file through rotation and truncation, and stops cleanly on SIGTERM', async () => {
    const { dir, db } = workspace();
    const file = path.join(dir, 'app.log');
    writeFileSync(file, 'first\n');
    const follow = start(
      process.execPath,
      [path.join(ROOT, 'bin/dancer.js'), 'ingest', file, '--follow', '--db', db, '--json'],
      { cwd: dir },
    );
    const messages = () => {
      try {
        return query<{ message: string }>(db, 'SELECT message FROM logs ORDER BY id').map((r) => r.message);
      } catch {
        return [];
      }
    };
    const until = (expected: string[]) =>
      waitFor(
        () => (JSON.stringify(messages()) === JSON.stringify(expected) ? true : undefined),
        25_000,
        expected.join(','),
      );
    try {
      await until(['first']);
      appendFileSync(file, 'second\nWARN third\n');
      await until(['first', 'second', 'third']);
      // Rotation: the old file is renamed (and gets a last line), a new file appears at the path.
      appendFileSync(file, 'last of old\n');
      renameSync(file, `${file}.1`);
      writeFileSync(file, 'new file line\n');
      await until(['first', 'second', 'third', 'last of old', 'new file line']);
      // Truncation (copytruncate): the file shrinks and is read from its start again.
      writeFileSync(file, '');
      await waitFor(() => (follow.stderr().includes('truncated') ? true : undefined), 25_000, 'truncation seen');
      writeFileSync(file, 'after truncate\n');
      await until(['first', 'second', 'third', 'last of old', 'new file line', 'after truncate']);
    } finally {
      follow.child.kill('SIGTERM');
    }
    const done = await follow.done;
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ records: 6, rows: 6, dropped: {} });
  }, 120_000);

  it('reports a missing file and a misuse with their codes', async () => {
    const { dir, db } = workspace();
    const missing = await dancer(['ingest', path.join(dir, 'nope.log'), '--db', db, '--json'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe('DANCER_CAPTURE_INPUT_FAILED');
    expect(existsSync(db)).toBe(false); // no empty database left behind
    writeFileSync(path.join(dir, 'blocker'), 'a file');
    const noStore = await dancer(['ingest', '-', '--db', path.join(dir, 'blocker', 'x.db')], {
      cwd: dir,
      input: 'x\n',
    });
    expect(noStore.code).toBe(1);
    expect(noStore.stderr.trim().split('\n')).toHaveLength(1);
    expect(noStore.stderr).toContain('DANCER_STORE_OPEN_FAILED');
    const usage = await dancer(['ingest', '-', '--follow', '--db', db], { cwd: dir });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('DANCER_USAGE');
    const help = await dancer(['ingest', '--help'], { cwd: dir });
    expect(help.stdout).toContain('--follow');
    expect(help.stdout).toContain('myapp 2>&1 | dancer ingest -');
  });
});
