import { rmSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebucket, sparkline } from '../../src/cli/patterns.js';
import { parseConfigText } from '../../src/config/index.js';
import { createPatternsPipeline } from '../../src/patterns/detector-pipeline.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { openStore } from '../../src/store/open.js';
import { tempStore } from '../patterns/helpers.js';

const BIN = path.resolve('bin/dancer.js');
let dir: string;
let dbFile: string;

function dancer(...args: string[]) {
  return execa('node', [BIN, ...args], { reject: false, env: { NO_COLOR: '1' }, cwd: dir });
}

beforeAll(() => {
  // A real store filled through the real writer, miner and detector.
  const store = tempStore();
  dir = store.dir;
  dbFile = store.file;
  const config = parseConfigText('{}', '<test>');
  const pipeline = createPatternsPipeline(store.db, config);
  const writer = new LogWriter(store.db, { plugins: pipeline.plugins });
  const now = Date.now();
  for (let i = 0; i < 12; i++) {
    writer.write({
      ts: now - 3000 + i,
      level: 50,
      message: `payment ${4000 + i} failed: card declined for user u${i}`,
      pid: i,
    });
  }
  for (let i = 0; i < 30; i++) {
    writer.write({
      ts: now - 2 * 3_600_000 + i * 60_000,
      level: 30,
      message: `GET /items/${i} 200 in ${i} ms`,
      pid: i,
    });
  }
  writer.write({ ts: now - 1000, level: 40, message: 'disk 91% full on /var', pid: 1 });
  writer.close();
  pipeline.detector.crashTrigger({ exitCode: 1, signal: null, lastRecords: [] });
  store.db.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dancer patterns', () => {
  it('lists patterns with counts, status, level and a trend sparkline', async () => {
    const r = await dancer('patterns', '--db', dbFile);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+COUNT\s+LEVEL\s+FIRST SEEN\s+LAST SEEN\s+TREND \(24h\)\s+TEMPLATE/);
    expect(r.stdout).toMatch(/GET <\*> .*in <\*> ms/);
    const payment = lines.find((l) => l.includes('payment'));
    expect(payment).toMatch(/^\d+\s+new\s+12\s+error\s/);
    expect(payment).toMatch(/[▁▂▃▄▅▆▇█]/);
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('filters by --min-count, --level and --since, and prints JSON with --json', async () => {
    const r = await dancer(
      'patterns',
      'list',
      '--db',
      dbFile,
      '--json',
      '--min-count',
      '12',
      '--level',
      'error',
      '--since',
      '1h',
    );
    expect(r.exitCode).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{
      id: number;
      count: number;
      status: string;
      trend: number[];
      template: string;
    }>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ count: 12, status: 'new', maxLevel: 'error' });
    expect(rows[0]?.trend.reduce((a, b) => a + b, 0)).toBe(12);
    const all = JSON.parse((await dancer('patterns', '--db', dbFile, '--json')).stdout) as unknown[];
    expect(all).toHaveLength(3);
    const warn = JSON.parse(
      (await dancer('patterns', '--db', dbFile, '--json', '--level', 'warn')).stdout,
    ) as unknown[];
    expect(warn).toHaveLength(2);
  });

  it('shows one pattern with per-level counts, trend, examples and their parameters', async () => {
    const list = JSON.parse((await dancer('patterns', '--db', dbFile, '--json', '--level', 'error')).stdout) as Array<{
      id: number;
    }>;
    const id = String(list[0]?.id);
    const r = await dancer('patterns', 'show', id, '--db', dbFile);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`Pattern ${id}`);
    expect(r.stdout).toMatch(/count\s+12\s+\(error 12\)/);
    expect(r.stdout).toMatch(/parameters: "4011"/);
    expect(r.stdout).toContain('the new-pattern rule FIRED');
    const json = JSON.parse((await dancer('patterns', 'show', id, '--db', dbFile, '--json')).stdout);
    expect(json.levels.error).toBe(12);
    expect(json.examples).toHaveLength(5);
    expect(json.examples[0].parameters).toContain('4011');
  });

  it('explains why a pattern fired, in plain words', async () => {
    const list = JSON.parse((await dancer('patterns', '--db', dbFile, '--json', '--level', 'error')).stdout) as Array<{
      id: number;
    }>;
    const r = await dancer('patterns', 'why', String(list[0]?.id), '--db', dbFile);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /the new-pattern rule FIRED: new pattern first seen .* recurred 12 times at error or above in 5 min \(more than 10\)/,
    );
    const quiet = JSON.parse(
      (await dancer('patterns', '--db', dbFile, '--json', '--min-count', '30')).stdout,
    ) as Array<{ id: number }>;
    const q = await dancer('patterns', 'why', String(quiet[0]?.id), '--db', dbFile);
    expect(q.stdout).toContain('No decisions recorded');
  });

  it('explains the decisions about crashes, the error rate and reviews', async () => {
    const crash = await dancer('patterns', 'why', 'crash', '--db', dbFile);
    expect(crash.exitCode).toBe(0);
    expect(crash.stdout).toMatch(
      /the crash rule held \(crash: the process exited with code 1\), but it stayed quiet because 1 consultation\(s\) already running \(limit 1\)/,
    );
    const review = await dancer('patterns', 'why', 'review', '--db', dbFile, '--json');
    expect(JSON.parse(review.stdout)).toEqual({ key: 'review', decisions: [] });
  });

  it('ignores and unignores a pattern, remembering its rate', async () => {
    const list = JSON.parse(
      (await dancer('patterns', '--db', dbFile, '--json', '--level', 'warn', '--min-count', '1')).stdout,
    ) as Array<{
      id: number;
      template: string;
    }>;
    const disk = list.find((t) => t.template.includes('disk'));
    const r = await dancer('patterns', 'ignore', String(disk?.id), '--db', dbFile);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/ignored at 0\.02\/min; it stays quiet until its rate reaches 0\.17\/min \(10x\)/);
    const db = openStore(dbFile, { readonly: true });
    expect(db.prepare('SELECT status FROM templates WHERE id = ?').get(disk?.id)).toEqual({ status: 'ignored' });
    expect(db.prepare('SELECT rate_per_min FROM pattern_ignores WHERE template_id = ?').get(disk?.id)).toEqual({
      rate_per_min: 1 / 60,
    });
    db.close();
    const u = await dancer('patterns', 'unignore', String(disk?.id), '--db', dbFile, '--json');
    expect(JSON.parse(u.stdout)).toEqual({ id: disk?.id, status: 'new' });
  });

  it('fails clearly on a bad id, a missing pattern and a bad level', async () => {
    const bad = await dancer('patterns', 'show', 'abc', '--db', dbFile);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('DANCER_USAGE');
    const missing = await dancer('patterns', 'why', '999', '--db', dbFile, '--json');
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe('DANCER_NOT_FOUND');
    const level = await dancer('patterns', '--db', dbFile, '--level', 'loud');
    expect(level.exitCode).toBe(2);
  });

  it('has --help', async () => {
    const r = await dancer('patterns', '--help');
    expect(r.stdout).toMatch(/list.*show.*why.*ignore.*unignore/s);
  });
});

describe('sparkline', () => {
  it('draws eight heights and blanks for zero', () => {
    expect(sparkline([0, 1, 2, 4, 8])).toBe(' ▁▂▄█');
    expect(sparkline([0, 0])).toBe('  ');
    expect(rebucket([1, 1, 1, 1, 1, 1], 3)).toEqual([2, 2, 2]);
  });
});
