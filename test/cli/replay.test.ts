import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { compileTimeFormat } from '../../src/cli/replay.js';

const BIN = path.resolve('bin/dancer.js');
const dir = mkdtempSync(path.join(tmpdir(), 'dancer-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function dancer(...args: string[]) {
  return execa('node', [BIN, ...args], { reject: false, env: { NO_COLOR: '1' }, cwd: dir });
}

/** 90 minutes of steady traffic, a new error burst at minute 70, a 6x traffic spike from minute 80. */
function history(): string {
  const out: Array<{ time: number; level: number; msg: string }> = [];
  for (let m = 0; m < 90; m++) {
    for (let i = 0; i < 5; i++)
      out.push({ time: T0 + m * 60_000 + i * 1000, level: 30, msg: `GET /items/${i} 200 in ${i * 3} ms` });
    if (m === 70) {
      for (let i = 0; i < 15; i++)
        out.push({
          time: T0 + m * 60_000 + 30_000 + i * 100,
          level: 50,
          msg: `payment ${1000 + i} failed: card declined`,
        });
    }
    if (m >= 80) {
      for (let i = 0; i < 30; i++)
        out.push({ time: T0 + m * 60_000 + 40_000 + i * 10, level: 30, msg: `GET /items/${i} 200 in ${i} ms` });
    }
  }
  out.sort((a, b) => a.time - b.time);
  return `${out.map((o) => JSON.stringify(o)).join('\n')}\n`;
}

interface Row {
  at: string;
  rule: string;
  outcome: string;
  reasonCode: string;
  template: string | null;
  numbers: Record<string, number>;
}

describe('dancer replay', () => {
  const file = path.join(dir, 'history.ndjson');
  writeFileSync(file, history());

  it('replays NDJSON on a virtual clock and prints the decisions it would have taken', async () => {
    const r = await dancer('replay', file, '--json');
    expect(r.exitCode).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row);
    const fired = rows.filter((d) => d.outcome === 'fire');
    expect(fired.map((d) => d.rule)).toEqual(['new_pattern', 'spike']);
    expect(fired[0]).toMatchObject({ at: '2026-01-01T13:10:31.100Z', template: 'payment <*> failed: card declined' });
    expect(fired[0]?.numbers.count).toBe(12);
    expect(fired[1]?.at.startsWith('2026-01-01T13:2')).toBe(true);
    expect(rows.some((d) => d.outcome === 'suppress' && d.reasonCode === 'dedupe_active')).toBe(true);
    expect(r.stderr).toMatch(/replayed 765 records .* 2 fired, \d+ suppressed/);
  });

  it('prints plain words without --json', async () => {
    const r = await dancer('replay', file, '--quiet');
    expect(r.stdout).toContain('2026-01-01 13:10:31Z: the new-pattern rule FIRED');
    expect(r.stdout).toContain('pattern 2: payment <*> failed: card declined');
    expect(r.stderr).toBe('');
  });

  it('uses the thresholds from dancer.yaml, so users can tune them on their history', async () => {
    const config = path.join(dir, 'tuned.yaml');
    writeFileSync(
      config,
      'patterns:\n  triggers:\n    newPattern:\n      minCount: 20\n    spike:\n      factor: 10\n',
    );
    const r = await dancer('replay', file, '--json', '--config', config);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe('');
  });

  it('replays plain lines with a --time-format', async () => {
    const plain = path.join(dir, 'plain.log');
    const lines: string[] = [];
    for (let i = 0; i < 12; i++) {
      const t = new Date(T0 + i * 5000).toISOString().replace('T', ' ').slice(0, 19);
      lines.push(`${t} ERROR upstream 10.0.0.${i}:5432 refused connection`);
      lines.push('    at connect (/app/src/db.ts:10:5)');
    }
    writeFileSync(plain, `${lines.join('\n')}\n`);
    const r = await dancer('replay', plain, '--json', '--time-format', '%Y-%m-%d %H:%M:%S');
    expect(r.exitCode).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row);
    expect(rows[0]).toMatchObject({ rule: 'new_pattern', outcome: 'fire', at: '2026-01-01T12:00:50.000Z' });
    expect(r.stderr).toMatch(/replayed 12 records \(24 lines/);
  });

  it('paces the replay with --speed', async () => {
    const short = path.join(dir, 'short.ndjson');
    writeFileSync(
      short,
      `${JSON.stringify({ time: T0, msg: 'a' })}\n${JSON.stringify({ time: T0 + 3000, msg: 'b' })}\n`,
    );
    const started = Date.now();
    const r = await dancer('replay', short, '--speed', '10');
    expect(r.exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('fails clearly on a missing file or a bad option', async () => {
    const missing = await dancer('replay', path.join(dir, 'nope.ndjson'), '--json');
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe('DANCER_CAPTURE_INPUT_FAILED');
    const speed = await dancer('replay', file, '--speed', 'fast');
    expect(speed.exitCode).toBe(2);
    expect(speed.stderr).toContain('DANCER_USAGE');
    const fmt = await dancer('replay', file, '--time-format', '%Q');
    expect(fmt.exitCode).toBe(2);
  });
});

describe('compileTimeFormat', () => {
  it('reads iso, epoch, epoch-ms and strftime times at the start of a line', () => {
    expect(compileTimeFormat('iso')('2026-01-01T12:00:00.250Z hello')).toEqual({ ts: T0 + 250, rest: 'hello' });
    expect(compileTimeFormat('iso')('2026-01-01 13:00:00+01:00 x')).toEqual({ ts: T0, rest: 'x' });
    expect(compileTimeFormat('epoch')(`${T0 / 1000}.5 x`)).toEqual({ ts: T0 + 500, rest: 'x' });
    expect(compileTimeFormat('epoch-ms')(`[${T0}] x`)).toEqual({ ts: T0, rest: 'x' });
    expect(compileTimeFormat('%d/%b/%Y:%H:%M:%S %z')('[01/Jan/2026:07:00:00 -0500] GET /')).toEqual({
      ts: T0,
      rest: 'GET /',
    });
    expect(compileTimeFormat('%b %e %H:%M:%S')('Jan  1 12:00:00 host sshd')).toEqual({
      ts: Date.UTC(1970, 0, 1, 12),
      rest: 'host sshd',
    });
    expect(compileTimeFormat('%Y-%m-%d %H:%M:%S,%L')('2026-01-01 12:00:00,007 INFO x')).toEqual({
      ts: T0 + 7,
      rest: 'INFO x',
    });
    expect(compileTimeFormat('iso')('    at frame')).toBeUndefined();
  });
});
