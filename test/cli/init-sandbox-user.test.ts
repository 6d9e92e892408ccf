/**
 * `dancer init --create-sandbox-user` for real: as root it creates a system account with useradd
 * (a random name, removed afterwards), writes it into dancer.yaml, and that account is the one
 * sandboxed code then runs as; run again it reuses the account. Not as root it refuses, and
 * creates nothing.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sandboxUserStep } from '../../src/cli/init-sandbox.js';
import { loadConfig } from '../../src/config/index.js';
import { isDancerError } from '../../src/errors.js';
import { resolveSandbox } from '../../src/sandbox/index.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/dancer.js');
const AS_ROOT = process.getuid?.() === 0;
const NAME = `dtest${Math.random().toString(36).slice(2, 9)}`;
const dirs: string[] = [];

function exists(name: string): boolean {
  return spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0;
}

function project(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-init-user-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'svc', scripts: { start: 'node server.js' } }));
  writeFileSync(
    path.join(dir, 'server.js'),
    "require('node:http').createServer((q, s) => s.end('ok')).listen(8080);\n",
  );
  return dir;
}

afterAll(() => {
  if (AS_ROOT && exists(NAME)) spawnSync('userdel', [NAME], { stdio: 'ignore' });
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('dancer init --create-sandbox-user', () => {
  it.skipIf(!AS_ROOT)('as root: creates the account, writes it to dancer.yaml, and sandboxed code runs as it', () => {
    expect(exists(NAME)).toBe(false);
    const dir = project();
    const r = spawnSync(
      process.execPath,
      [BIN, 'init', '--yes', '--json', '--create-sandbox-user', '--sandbox-user', NAME],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(exists(NAME)).toBe(true);
    const entry = spawnSync('getent', ['passwd', NAME], { encoding: 'utf8' }).stdout.trim().split(':');
    const uid = Number(entry[2]);
    expect(uid).toBeGreaterThan(0);
    expect(entry[6]).toMatch(/nologin$/);

    const loaded = loadConfig({ file: path.join(dir, 'dancer.yaml') });
    const config = loaded.config.fixes.sandbox;
    expect(config !== 'none' && config.user).toBe(NAME);
    const sandbox = resolveSandbox({ config, hide: [] });
    expect(sandbox.user).toMatchObject({ name: NAME, uid });
    const wrapped = sandbox.command(['id', '-u'], { cwd: dir, writable: [dir] });
    const inside = spawnSync(wrapped.file, wrapped.args, { env: wrapped.env, encoding: 'utf8' });
    expect(inside.status, inside.stderr).toBe(0);
    expect(Number(inside.stdout.trim())).toBe(uid);

    // Again (another project): the account exists, it is reused, not recreated.
    const again = spawnSync(process.execPath, [BIN, 'init', '--yes', '--create-sandbox-user', '--sandbox-user', NAME], {
      cwd: project(),
      encoding: 'utf8',
    });
    expect(again.status, again.stderr).toBe(0);
    expect(spawnSync('getent', ['passwd', NAME], { encoding: 'utf8' }).stdout.trim().split(':')[2]).toBe(String(uid));
  });

  it('refuses when not root, and creates nothing', () => {
    let error: unknown;
    try {
      sandboxUserStep({ createSandboxUser: true, sandboxUser: NAME }, 1000);
    } catch (e) {
      error = e;
    }
    expect(isDancerError(error, 'DANCER_USAGE')).toBe(true);
    expect(String((error as Error).message)).toMatch(/needs root/);
  });

  it.skipIf(!AS_ROOT)('the real CLI run as an unprivileged uid refuses with DANCER_USAGE (exit 2)', () => {
    const dir = project();
    chmodSync(dir, 0o777);
    const other = `${NAME}x`;
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--',
        process.execPath,
        BIN,
        'init',
        '--yes',
        '--create-sandbox-user',
        '--sandbox-user',
        other,
      ],
      { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir } },
    );
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('DANCER_USAGE');
    expect(r.stderr).toContain('needs root');
    expect(exists(other)).toBe(false);
    expect(() => readFileSync(path.join(dir, 'dancer.yaml'))).toThrow();
  });
});
