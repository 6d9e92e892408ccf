/** The rough edges a first-time user hit (issue "First contact"), each with the behaviour it has now. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { SuperviseStore } from '../../src/supervise/state-store.js';
import { systemdUnit } from '../../src/supervise/systemd.js';
import { dancer as runDancer } from './dancer-cli.js';

vi.setConfig({ testTimeout: 60_000 });

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/dancer.js');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-edges-'));
  dirs.push(dir);
  return dir;
}

function dancer(cwd: string, args: string[], input?: string) {
  return runDancer(args, { cwd, input });
}

function bash(cwd: string, script: string) {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', script], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A store with a few records: an error, info lines with an address and an id. */
function seeded(dir: string): void {
  const lines = [
    '{"level":30,"time":1765000000000,"msg":"connected to 127.0.0.1:5432"}',
    '{"level":30,"time":1765000001000,"msg":"request zebra-needle-4711 done"}',
    '{"level":50,"time":1765000002000,"msg":"connection refused"}',
  ].join('\n');
  const r = dancer(dir, ['ingest', '-'], `${lines}\n`);
  expect(r.code, r.stderr).toBe(0);
}

describe('rough edges', () => {
  it('| head -1 ends quietly: no EPIPE crash (mine --assignments, replay --json, logs)', () => {
    const dir = tmp();
    const many = Array.from({ length: 30_000 }, (_, i) => `user ${i} logged in from host-${i % 7}`).join('\n');
    writeFileSync(path.join(dir, 'msgs.txt'), `${many}\n`);
    const mine = bash(dir, `node ${BIN} mine --assignments msgs.txt 2>err.txt | head -1`);
    expect(mine.code).toBe(0);
    expect(mine.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'err.txt'), 'utf8')).not.toMatch(/EPIPE|Error/);
    const errors = Array.from(
      { length: 20_000 },
      (_, i) => `{"level":50,"time":${1765000000000 + i * 50},"msg":"db timeout ${i % 3}"}`,
    ).join('\n');
    writeFileSync(path.join(dir, 'app.ndjson'), `${errors}\n`);
    const replay = bash(dir, `node ${BIN} replay app.ndjson --json 2>err2.txt | head -1`);
    expect(replay.code).toBe(0);
    expect(readFileSync(path.join(dir, 'err2.txt'), 'utf8')).not.toMatch(/EPIPE|at .*\(node:/);
  });

  it('an invalid consult.redact.patterns regex is DANCER_CONFIG_INVALID with its line, not a SyntaxError stack', () => {
    const dir = tmp();
    writeFileSync(
      path.join(dir, 'dancer.yaml'),
      'consult:\n  redact:\n    patterns:\n      - { name: order, regex: "ord-(\\\\d+" }\n',
    );
    const r = dancer(dir, ['logs', 'stats']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DANCER_CONFIG_INVALID/);
    expect(r.stderr).toMatch(/dancer\.yaml:4:.*consult\.redact\.patterns\.0\.regex: not a valid regular expression/);
    expect(r.stderr).not.toMatch(/SyntaxError: Invalid regular expression[\s\S]*\n\s+at /);
  });

  it('dancer status after the supervisor died says so', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'dancer.yaml'), 'service:\n  name: svc\n  start: node x.js\n');
    const db = openStore(path.join(dir, '.dancer/dancer.db'));
    new SuperviseStore(db).saveState('svc', { state: 'running', supervisorPid: 2 ** 22 + 7, workers: [] });
    db.close();
    const r = dancer(dir, ['status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const status = JSON.parse(r.stdout) as { state: string; running: boolean };
    expect(status.running).toBe(false);
    expect(status.state).toMatch(/^dead \(the supervisor pid \d+ died while running/);
    expect(status.state).not.toMatch(/^running/);
  });

  it('bare dancer logs lists; patterns without a database gives the same hint as logs', () => {
    const dir = tmp();
    const none = dancer(dir, ['patterns']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/DANCER_STORE_OPEN_FAILED: No database at .*capture some logs first/);
    seeded(dir);
    const bare = dancer(dir, ['logs']);
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toMatch(/connection refused/);
  });

  it('logs search: pasted ids and addresses are searched as literal phrases (said so), FTS syntax still works', () => {
    const dir = tmp();
    seeded(dir);
    const id = dancer(dir, ['logs', 'search', 'zebra-needle-4711', '--json']);
    expect(id.code, id.stderr).toBe(0);
    const rows = id.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(1);
    expect(rows[0].search).toEqual({ literal: true, query: '"zebra-needle-4711"' });
    expect(id.stderr).toMatch(/not FTS syntax; searched for it as a literal phrase/);
    const addr = dancer(dir, ['logs', 'search', '127.0.0.1']);
    expect(addr.code, addr.stderr).toBe(0);
    expect(addr.stdout).toMatch(/connected to 127\.0\.0\.1:5432/);
    const fts = dancer(dir, ['logs', 'search', 'refus* OR zebra', '--json']);
    expect(fts.code).toBe(0);
    const ftsRows = fts.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(ftsRows.map((r) => r.message)).toEqual(['request zebra-needle-4711 done', 'connection refused']);
    expect(ftsRows[0].search).toBeUndefined();
  });

  it('dancer logs prune [--dry-run] applies store.retention now', () => {
    const dir = tmp();
    seeded(dir); // records from 2025-12: older than 14 days
    writeFileSync(path.join(dir, 'dancer.yaml'), 'store: { retention: { maxAgeDays: 14 } }\n');
    const dry = dancer(dir, ['logs', 'prune', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ byAge: 3, bySize: 0, deleted: 3, dryRun: true });
    expect(JSON.parse(dancer(dir, ['logs', 'stats', '--json']).stdout).rows).toBe(3);
    const real = dancer(dir, ['logs', 'prune']);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/deleted 3 log rows \(3 older than 14 days/);
    expect(JSON.parse(dancer(dir, ['logs', 'stats', '--json']).stdout).rows).toBe(0);
  });

  it('ingest of a missing file fails without creating the database', () => {
    const dir = tmp();
    const r = dancer(dir, ['ingest', '/nofile', '--db', 'x.db']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DANCER_CAPTURE_INPUT_FAILED/);
    expect(existsSync(path.join(dir, 'x.db'))).toBe(false);
  });

  it('replay refuses --speed 0 and a --time-format that reads no time; lines without a time are not dated 1970', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'plain.log'), 'ERROR db down\nERROR db down\n');
    expect(dancer(dir, ['replay', 'plain.log', '--speed', '0']).stderr).toMatch(
      /DANCER_USAGE: --speed wants a number > 0/,
    );
    const bogus = dancer(dir, ['replay', 'plain.log', '--time-format', 'bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/has no time directive/);
    const nomatch = dancer(dir, ['replay', 'plain.log', '--time-format', '%Y-%m-%d %H:%M:%S']);
    expect(nomatch.code).toBe(2);
    expect(nomatch.stderr).toMatch(/matched no line/);
    const plain = dancer(dir, ['replay', 'plain.log']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toMatch(/1970/);
    expect(plain.stderr).toMatch(new RegExp(`from ${new Date().getUTCFullYear()}-`));
  });

  it('the systemd unit documents itself with a file that exists', () => {
    const unit = systemdUnit({
      service: 'svc',
      configFile: '/srv/svc/dancer.yaml',
      workingDirectory: '/srv/svc',
      node: process.execPath,
      dancerBin: BIN,
      watchdogSeconds: 30,
      drainSeconds: 10,
    });
    const doc = /^Documentation=file:\/\/(.+)$/m.exec(unit)?.[1];
    expect(doc).toBeDefined();
    expect(existsSync(decodeURI(doc!))).toBe(true);
    expect(unit).not.toMatch(/github\.com\/dancer\/dancer/);
  });

  it('dancer deploy main in a master repository fails before saying "deploying", naming the branches', () => {
    const dir = tmp();
    const git = bash(
      dir,
      'git init -q -b master && git -c user.email=t@t -c user.name=t commit -q --allow-empty -m init',
    );
    expect(git.code, git.stderr).toBe(0);
    writeFileSync(path.join(dir, 'dancer.yaml'), 'service:\n  name: svc\n  start: node x.js\n');
    const r = dancer(dir, ['deploy', 'main']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DANCER_DEPLOY_FAILED: Unknown git ref "main" .*\(branches: master\)/);
    expect(r.stderr).not.toMatch(/deploying/);
  });
});
