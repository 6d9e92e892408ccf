/**
 * Oversight against a real `dancer run` (a child process): the dashboard inside it, webhooks to a
 * real receiver, the Zulip bot against the Zulip-compatible test server, `dancer stop`/`resume`
 * from the CLI announced everywhere, `dancer top --once`, and the interactive `dancer top` driven
 * in tmux (send-keys / capture-pane). Needs `npm run build` first (bin/dancer.js runs dist/).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultActorName } from '../../src/cli/fixes.js';
import { applyEvent, createFix, type FixRecord, getFix } from '../../src/fixes/records.js';
import { listAudit } from '../../src/notify/audit.js';
import { verifySignature } from '../../src/notify/webhooks/index.js';
import { type Db, openStore } from '../../src/store/open.js';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';
import { CHROMIUM } from '../dashboard/helpers.js';
import { FIXTURES, makeServiceDir } from '../supervise/helpers.js';
import { waitFor } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'dancer.js');
const SHOTS = path.join(ROOT, 'test-results', 'dashboard');
const TOKEN = 'e2e-dashboard-token';
const HOOK_SECRET = 'e2e-hook-secret';
const user = defaultActorName();

let dir: string;
let config: string;
let zulip: ZulipTestServer;
let hook: { url: string; got: Array<{ headers: IncomingHttpHeaders; body: string }>; server: Server };
let run: ChildProcess;
let output = '';
let dashboardUrl: string;
let db: Db;
const tmuxSession = `dancer-top-e2e-${process.pid}`;

function env(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NO_COLOR: '1',
    DASH_TOKEN: TOKEN,
    HOOK_SECRET,
    ZULIP_KEY: zulip.user('dancer-bot@dancer.test').api_key,
  };
}

function dancer(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', config], { cwd: dir, env: env(), encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function waitingFix(summary: string): FixRecord {
  const fix = createFix(
    db,
    { patternId: '1', patternHash: 'feedbeef', patternText: 'boom <*>', actor: 'detector', reason: 'spike' },
    Date.now(),
  );
  applyEvent(db, fix.id, { event: 'submit', actor: 'agent', reason: 'committed', fields: { summary } }, Date.now());
  return applyEvent(
    db,
    fix.id,
    { event: 'pass', actor: 'gate', reason: 'gate passed', fields: { risk: 'low' } },
    Date.now(),
  );
}

interface Status {
  service: string;
  running: boolean;
  readOnly: boolean;
  workers: Array<{ pid: number }>;
  emergencyStop: { engaged: boolean; reason: string | null };
}

const zulipSays = (text: string) => () => zulip.messages.find((m) => m.content.includes(text));

beforeAll(async () => {
  zulip = await createZulipTestServer({
    users: [
      { email: 'dancer-bot@dancer.test', fullName: 'Dancer', isBot: true },
      { email: 'alice@dancer.test', fullName: 'Alice Ops' },
    ],
  });
  const got: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ci`, got, server };

  dir = makeServiceDir(
    { start: `${process.execPath} ${path.join(FIXTURES, 'http.mjs')}` },
    {
      dashboard: { enabled: true, host: '127.0.0.1', port: 0, tokenEnv: 'DASH_TOKEN' },
      notify: {
        zulip: {
          site: zulip.url,
          email: 'dancer-bot@dancer.test',
          apiKeyEnv: 'ZULIP_KEY',
          stream: 'dancer',
          allow: ['alice@dancer.test'],
        },
        webhooks: [{ url: hook.url, secretEnv: 'HOOK_SECRET', events: ['stop', 'resume', 'fix_state'] }],
      },
    },
  );
  config = path.join(dir, 'dancer.yaml');
  run = spawn(process.execPath, [BIN, 'run', '--config', config], {
    cwd: dir,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  run.stdout?.on('data', (c) => {
    output += c;
  });
  run.stderr?.on('data', (c) => {
    output += c;
  });
  dashboardUrl = await waitFor('the dashboard to listen', 60_000, () => {
    if (run.exitCode !== null) throw new Error(`dancer run exited ${run.exitCode}:\n${output}`);
    return /dashboard: (http:\/\/\S+?)\/?(\s|$)/.exec(output)?.[1];
  });
  db = openStore(path.join(dir, '.dancer', 'dancer.db'));
  const deadline = Date.now() + 30_000;
  while (((await (await fetch(`${dashboardUrl}/api/status`)).json()) as { workers: unknown[] }).workers.length === 0) {
    if (Date.now() > deadline) throw new Error(`no worker:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  spawnSync('tmux', ['kill-session', '-t', tmuxSession]);
  db?.close();
  if (run && run.exitCode === null) {
    run.kill('SIGTERM');
    await new Promise((r) => run.once('exit', r));
  }
  await new Promise((r) => hook?.server.close(r));
  await zulip?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('oversight of a real dancer run', () => {
  it('the dashboard inside dancer run shows live workers and approves with the token', async () => {
    const status = (await (await fetch(`${dashboardUrl}/api/status`)).json()) as Status;
    expect(status).toMatchObject({ service: 'svc', running: true, readOnly: false });
    expect(status.workers[0]?.pid).toBeGreaterThan(0);

    const fix = waitingFix('Guard boom');
    const denied = await fetch(`${dashboardUrl}/api/fixes/${fix.id}/approve`, { method: 'POST' });
    expect(denied.status).toBe(401);
    const ok = await fetch(`${dashboardUrl}/api/fixes/${fix.id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'alice' }),
    });
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(getFix(db, fix.id).state).toBe('approved');
    expect(listAudit(db).at(-1)).toMatchObject({ actor: 'dashboard:alice', action: 'approve', outcome: 'ok' });
    // The webhook saw the transition, signed.
    const delivery = await waitFor('the fix_state webhook', 15_000, () =>
      hook.got.find((r) => r.headers['x-dancer-event'] === 'fix_state' && r.body.includes('"to":"approved"')),
    );
    expect(verifySignature(HOOK_SECRET, delivery.body, delivery.headers['x-dancer-signature-256'] as string)).toBe(
      true,
    );

    mkdirSync(SHOTS, { recursive: true });
    const browser = await chromium.launch(CHROMIUM);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${dashboardUrl}/`);
      await page.locator('#service-state', { hasText: 'svc: running' }).waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'real-run-overview.png'), fullPage: true });
      // An approve through the page, with the token; the page follows the transition by itself.
      const second = waitingFix('Guard boom, again');
      await page.goto(`${dashboardUrl}/#/fixes/${second.id}`);
      await page.locator('#fix-state', { hasText: 'awaiting_approval' }).waitFor();
      await page.fill('#token', TOKEN);
      await page.fill('#actor', 'bea');
      await page.click('button[data-action="approve"]');
      await page.locator('#fix-state', { hasText: 'approved' }).waitFor();
      expect(getFix(db, second.id).state).toBe('approved');
      expect(listAudit(db).at(-1)).toMatchObject({ actor: 'dashboard:bea', action: 'approve', outcome: 'ok' });
      await page.screenshot({ path: path.join(SHOTS, 'real-run-fix-approved.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('a CLI stop and resume are announced on Zulip, sent to webhooks and seen by the dashboard', async () => {
    const stop = dancer(['stop', '--reason', 'e2e maintenance']);
    expect(stop.status, stop.stderr).toBe(0);
    const announced = await waitFor('the stop on Zulip', 20_000, zulipSays('Emergency stop'));
    expect(announced.content).toContain(`engaged by ${user}`);
    expect(announced.content).toContain('e2e maintenance');
    await waitFor('the stop webhook', 15_000, () => hook.got.find((r) => r.headers['x-dancer-event'] === 'stop'));
    const status = (await (await fetch(`${dashboardUrl}/api/status`)).json()) as Status;
    expect(status.emergencyStop).toMatchObject({ engaged: true, reason: 'e2e maintenance' });

    const resume = dancer(['resume']);
    expect(resume.status, resume.stderr).toBe(0);
    const resumed = await waitFor('the resume on Zulip', 20_000, zulipSays('Resumed'));
    expect(resumed.content).toContain(`cli:${user}`);
    await waitFor('the resume webhook', 15_000, () => hook.got.find((r) => r.headers['x-dancer-event'] === 'resume'));
  });

  it('dancer top --once prints one frame (text and JSON) of the running service', () => {
    const json = dancer(['top', '--once', '--json']);
    expect(json.status, json.stderr).toBe(0);
    const data = JSON.parse(json.stdout);
    expect(data).toMatchObject({ service: 'svc', running: true, state: 'running' });
    expect(data.workers).toHaveLength(1);
    expect(data.workers[0].pid).toBeGreaterThan(0);
    expect(data.requestsPerMin).toHaveLength(60);
    const text = dancer(['top', '--once']);
    expect(text.stdout).toContain('dancer top · svc');
    expect(text.stdout).toContain(`pid ${data.workers[0].pid}`);
    expect(text.stdout).toContain('Open fixes');
  });

  it('the interactive dancer top in tmux: approve, stop and resume with keys', async () => {
    const fix = waitingFix('Fix from top');
    const capture = () => execFileSync('tmux', ['capture-pane', '-p', '-t', tmuxSession], { encoding: 'utf8' });
    const keys = (...k: string[]) => execFileSync('tmux', ['send-keys', '-t', tmuxSession, ...k]);
    execFileSync('tmux', [
      'new-session',
      '-d',
      '-s',
      tmuxSession,
      '-x',
      '140',
      '-y',
      '50',
      '-e',
      'NO_COLOR=1',
      `${process.execPath} ${BIN} top --config ${config} --interval 300`,
    ]);
    await waitFor('the frame', 30_000, () => (capture().includes(`#${fix.id}`) ? true : undefined));
    const frame = capture();
    expect(frame).toContain('dancer top · svc');
    expect(frame).toMatch(/pid \d+/);
    expect(frame).toContain('awaiting_approval');

    keys('a');
    await waitFor('the approval', 20_000, () => {
      if (getFix(db, fix.id).state === 'approved') return true;
      if (/Refused|DANCER_/.test(capture())) throw new Error(capture());
      return undefined;
    }).catch((error) => {
      throw new Error(`${(error as Error).message}\n${capture()}`);
    });
    expect(listAudit(db).at(-1)).toMatchObject({
      actor: `cli:${user}`,
      source: 'cli',
      action: 'approve',
      outcome: 'ok',
    });

    const stops = () => zulip.messages.filter((m) => m.content.includes('Emergency stop')).length;
    const stopsBefore = stops();
    keys('s');
    await waitFor('the stop in the frame', 20_000, () => (capture().includes('EMERGENCY STOP') ? true : undefined));
    await waitFor('the stop on Zulip', 20_000, () => (stops() > stopsBefore ? true : undefined));
    keys('u');
    await waitFor('the resume in the frame', 20_000, () => (capture().includes('EMERGENCY STOP') ? undefined : true));
    keys('q');
    await waitFor('top to quit', 20_000, () =>
      spawnSync('tmux', ['has-session', '-t', tmuxSession]).status !== 0 ? true : undefined,
    );
  });
});
