import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, secretEnvNames, withheldFromService } from '../../src/config/index.js';
import { inheritedEnv } from '../../src/supervise/child-env.js';
import { expectGone, FIXTURES, makeServiceDir, waitFor } from '../supervise/helpers.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/dancer.js');

const SECRETS = {
  ANTHROPIC_API_KEY: 'sk-ant-api03-service-must-not-see',
  CLAUDE_CODE_OAUTH_TOKEN: 'oauth-must-not-see',
  ZULIP_BOT_KEY: 'zulip-must-not-see',
  HOOK_SECRET: 'hook-passed-on-purpose',
  DASH_TOKEN: 'dash-must-not-see',
  SERVICE_DB_URL: 'postgres://app@db/app',
};

const running: Array<{ child: ChildProcess; dir: string }> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const { child, dir } of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await expectGone([child.pid!]);
    rmSync(dir, { recursive: true, force: true });
  }
});

function envFileLines(file: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

const extra = {
  notify: {
    zulip: { site: 'http://127.0.0.1:9', email: 'bot@x', apiKeyEnv: 'ZULIP_BOT_KEY', stream: 's' },
    webhooks: [{ url: 'http://127.0.0.1:9/hook', secretEnv: 'HOOK_SECRET' }],
  },
  dashboard: { tokenEnv: 'DASH_TOKEN' },
};

describe("the service does not inherit Dancer's secrets", { timeout: 120_000 }, () => {
  it('names every secret the config points at, and passSecrets hands one on by name', () => {
    const dir = makeServiceDir({ start: 'true', passSecrets: ['HOOK_SECRET'] }, extra);
    dirs.push(dir);
    const { config } = loadConfig({ file: path.join(dir, 'dancer.yaml') });
    expect(secretEnvNames(config).sort()).toEqual(
      [
        'ANTHROPIC_API_KEY',
        'ANTHROPIC_AUTH_TOKEN',
        'CLAUDE_CODE_OAUTH_TOKEN',
        'DASH_TOKEN',
        'HOOK_SECRET',
        'ZULIP_BOT_KEY',
      ].sort(),
    );
    expect(withheldFromService(config)).not.toContain('HOOK_SECRET');
    expect(inheritedEnv(['A'], { A: '1', B: '2' })).toEqual({ B: '2' });
  });

  it('a worker under `dancer run` sees its own variables and none of the withheld ones', async () => {
    const dir = makeServiceDir(
      {
        start: `env > "$ENV_OUT" && exec node ${path.join(FIXTURES, 'http.mjs')}`,
        env: { ENV_OUT: 'worker-env.txt' },
        passSecrets: ['HOOK_SECRET'],
      },
      extra,
    );
    const child = spawn(process.execPath, [BIN, 'run', '--config', path.join(dir, 'dancer.yaml')], {
      env: { ...process.env, NO_COLOR: '1', ...SECRETS },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    running.push({ child, dir });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // Outside git the worker runs in the checkout itself (the worktree release).
    const out = path.join(dir, 'worker-env.txt');
    await waitFor(
      () => (existsSync(out) && readFileSync(out, 'utf8').includes('PATH=') ? true : undefined),
      60_000,
      `worker env (${stderr})`,
    );
    const env = envFileLines(out);
    expect(env.get('SERVICE_DB_URL')).toBe(SECRETS.SERVICE_DB_URL);
    expect(env.get('HOOK_SECRET')).toBe(SECRETS.HOOK_SECRET);
    for (const name of ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ZULIP_BOT_KEY', 'DASH_TOKEN']) {
      expect(env.has(name), name).toBe(false);
    }
    expect(readFileSync(out, 'utf8')).not.toContain('must-not-see');
  });
});
