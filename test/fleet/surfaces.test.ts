/**
 * The fleet's human surfaces against two real `dancer run` processes (hosts a and b) sharing a
 * real PostgreSQL 15, with the Zulip-compatible test server and a webhook receiver:
 * - `dancer stop` / `dancer resume` on one host reach the other host's stop flag (the time from
 *   the fleet's stop row to each host's flag is measured, and only loosely bounded);
 * - one voice: only the leader runs the Zulip bot and the webhook sender; every host's event is
 *   posted once; Zulip commands from allow-listed users reach every host, others are refused;
 * - kill -9 of the leader: the other host takes over and posts the next event;
 * - the dashboard of a host shows the fleet.
 * Needs `npm run build` first (bin/dancer.js runs dist/).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { type Db, openStore } from '../../src/store/open.js';
import { emergencyStop } from '../../src/supervise/index.js';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { CHROMIUM } from '../dashboard/helpers.js';
import { waitFor } from '../e2e/helpers.js';
import { FIXTURES, makeServiceDir } from '../supervise/helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'dancer.js');

interface Host {
  name: string;
  dir: string;
  config: string;
  run: ChildProcess;
  output: string;
  db: Db;
}

let pg: TestPostgres;
let url: string;
let pool: FleetPool;
let zulip: ZulipTestServer;
let hook: { url: string; got: Array<{ event: string; data: Record<string, unknown> }>; server: Server };
const hosts: Record<string, Host> = {};
let dashboardUrl: string;

function env(): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: '1', FLEET_URL: url, ZULIP_KEY: zulip.user('dancer-bot@dancer.test').api_key };
}

function dancer(h: Host, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', h.config], {
    cwd: h.dir,
    env: env(),
    encoding: 'utf8',
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function startHost(name: string): Host {
  const dir = makeServiceDir(
    { name: 'shop', start: `${process.execPath} ${path.join(FIXTURES, 'http.mjs')}` },
    {
      fleet: { postgres: { urlEnv: 'FLEET_URL' }, host: name, leaseSeconds: 8 },
      fixes: { worktreeBase: '.dancer/worktrees' },
      dashboard: { enabled: name === 'a', host: '127.0.0.1', port: 0 },
      notify: {
        zulip: {
          site: zulip.url,
          email: 'dancer-bot@dancer.test',
          apiKeyEnv: 'ZULIP_KEY',
          stream: 'dancer',
          allow: ['alice@dancer.test'],
          maxRetryDelaySeconds: 1,
        },
        webhooks: [{ url: hook.url, events: ['stop', 'resume'] }],
      },
    },
  );
  const h: Host = {
    name,
    dir,
    config: path.join(dir, 'dancer.yaml'),
    output: '',
    db: undefined as unknown as Db,
  } as Host;
  h.run = spawn(process.execPath, [BIN, 'run', '--config', h.config], {
    cwd: dir,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  h.run.stdout?.on('data', (c) => {
    h.output += c;
  });
  h.run.stderr?.on('data', (c) => {
    h.output += c;
  });
  hosts[name] = h;
  return h;
}

const isLeader = (h: Host) =>
  h.output.includes(`${h.name} is the fleet leader`) &&
  h.output.lastIndexOf(`${h.name} is the fleet leader`) > h.output.lastIndexOf(`${h.name} is no longer`);

/** ms since epoch of the fleet's stop row (the database clock; one machine here). */
async function fleetStopAt(): Promise<number> {
  const r = await pool.query('SELECT (EXTRACT(EPOCH FROM at) * 1000)::float8 AS at FROM fleet_stop WHERE id = 1');
  return Number(r.rows[0].at);
}

const messagesWith = (text: string) => zulip.messages.filter((m) => m.content.includes(text));
const settle = () => new Promise((r) => setTimeout(r, 2500));

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('surfaces_test');
  pool = openFleetPool(url);
  await migrateFleet(pool);
  zulip = await createZulipTestServer({
    users: [
      { email: 'dancer-bot@dancer.test', fullName: 'Dancer', isBot: true },
      { email: 'alice@dancer.test', fullName: 'Alice Ops' },
      { email: 'mallory@dancer.test', fullName: 'Mallory' },
    ],
  });
  const got: Array<{ event: string; data: Record<string, unknown> }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };

  for (const name of ['a', 'b']) startHost(name);
  for (const h of Object.values(hosts)) {
    await waitFor(`host ${h.name} to join`, 90_000, () => {
      if (h.run.exitCode !== null) throw new Error(`dancer run (${h.name}) exited ${h.run.exitCode}:\n${h.output}`);
      return h.output.includes(`host ${h.name} joined the fleet`) ? true : undefined;
    });
    h.db = openStore(path.join(h.dir, '.dancer', 'dancer.db'));
  }
  dashboardUrl = await waitFor(
    'the dashboard',
    30_000,
    () => /dashboard: (http:\/\/\S+?)\/?(\s|$)/.exec(hosts.a?.output ?? '')?.[1],
  );
  // One leader, and its bot listening on Zulip.
  await waitFor('a leader', 30_000, () => (Object.values(hosts).filter(isLeader).length === 1 ? true : undefined));
  const botId = zulip.user('dancer-bot@dancer.test').user_id;
  await waitFor('the bot', 30_000, () =>
    zulip.queues().some((q) => q.polling && q.userId === botId) ? true : undefined,
  );
});

afterAll(async () => {
  // Each host's output, for a failure's post-mortem (test output, not committed).
  mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
  for (const h of Object.values(hosts))
    writeFileSync(path.join(ROOT, 'test-results', `fleet-surfaces-${h.name}.log`), h.output);
  for (const h of Object.values(hosts)) {
    h.db?.close();
    if (h.run.exitCode === null && h.run.signalCode === null) {
      h.run.kill('SIGTERM');
      await new Promise((r) => h.run.once('exit', r));
    }
  }
  await zulip?.close();
  await new Promise((r) => hook?.server.close(r));
  await pool?.end();
  await pg?.stop();
  for (const h of Object.values(hosts)) if (existsSync(h.dir)) rmSync(h.dir, { recursive: true, force: true });
});

describe('fleet surfaces with two dancer run hosts', () => {
  it('dancer stop / resume on one host reach the other within 2 s; the stop is posted once, by the leader', async () => {
    const a = hosts.a as Host;
    const b = hosts.b as Host;
    const leader = isLeader(a) ? a : b;
    const stop = dancer(b, ['stop', '--reason', 'drill-one']);
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stderr).toContain('on every host of the fleet');
    const flagA = await waitFor('a stopped', 10_000, () => emergencyStop(a.db));
    const flagB = emergencyStop(b.db);
    expect(flagB).toMatchObject({ reason: 'drill-one' });
    expect(flagA).toMatchObject({ reason: 'drill-one' });
    expect(flagA.setBy).toMatch(/^fleet:cli:/);
    const at = await fleetStopAt();
    const ms = flagA.setAt - at;
    process.stderr.write(`fleet stop: row -> host a's stop flag in ${ms} ms\n`);
    expect(ms).toBeLessThan(2000);

    await waitFor('the stop on Zulip', 20_000, () => messagesWith('drill-one')[0]);
    await waitFor('the stop webhook', 20_000, () => hook.got.find((g) => g.event === 'stop'));
    await settle();
    // One message and one webhook for one stop, whichever host the leader is.
    expect(messagesWith('drill-one')).toHaveLength(1);
    expect(hook.got.filter((g) => g.event === 'stop')).toHaveLength(1);
    const delivered = hook.got.find((g) => g.event === 'stop')?.data;
    expect(delivered).toMatchObject({ reason: 'drill-one' });
    expect(['a', 'b']).toContain(delivered?.host);
    expect(leader.output).toContain('is the fleet leader');

    const resume = dancer(a, ['resume']);
    expect(resume.status, resume.stderr).toBe(0);
    await waitFor('b resumed', 10_000, () => (emergencyStop(b.db) ? undefined : true));
    expect(emergencyStop(a.db)).toBeUndefined();
    await waitFor('the resume on Zulip', 20_000, () => messagesWith('**Resumed**')[0]);
    await settle();
    expect(messagesWith('**Resumed**')).toHaveLength(1);
    expect(hook.got.filter((g) => g.event === 'resume')).toHaveLength(1);
  });

  it('Zulip stop and resume from an allow-listed user reach every host; anyone else is refused', async () => {
    const a = hosts.a as Host;
    const b = hosts.b as Host;
    zulip.sendMessage('mallory@dancer.test', {
      stream: 'dancer',
      topic: 'ops',
      content: '@**Dancer** stop mallory-was-here',
    });
    await waitFor('the refusal', 20_000, () =>
      zulip.messages.find((m) => m.topic === 'ops' && m.content.includes('allow-list')),
    );
    expect(emergencyStop(a.db)).toBeUndefined();
    expect(emergencyStop(b.db)).toBeUndefined();

    zulip.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 'ops', content: '@**Dancer** stop zulip-drill' });
    await waitFor('both stopped', 20_000, () => (emergencyStop(a.db) && emergencyStop(b.db) ? true : undefined));
    const at = await fleetStopAt();
    const figures = [a, b].map((h) => (emergencyStop(h.db)?.setAt as number) - at);
    process.stderr.write(`zulip stop: fleet row -> a, b stop flags in ${figures.join(', ')} ms\n`);
    // The leader's own flag is set before the fleet row; the other's after it.
    for (const ms of figures) expect(ms).toBeLessThan(2000);
    await waitFor('the reply', 20_000, () =>
      zulip.messages.find((m) => m.topic === 'ops' && m.content.includes('every host')),
    );

    zulip.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 'ops', content: '@**Dancer** resume' });
    await waitFor('both resumed', 20_000, () => (!emergencyStop(a.db) && !emergencyStop(b.db) ? true : undefined));
  });

  it('the dashboard shows the fleet: hosts, the stop', async () => {
    const status = (await (await fetch(`${dashboardUrl}/api/status`)).json()) as { fleet: boolean };
    expect(status.fleet).toBe(true);
    const fleet = (await (await fetch(`${dashboardUrl}/api/fleet`)).json()) as { hosts: Array<{ name: string }> };
    expect(fleet.hosts.map((h) => h.name)).toEqual(['a', 'b']);
    const browser = await chromium.launch(CHROMIUM);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${dashboardUrl}/`);
      await page.locator('#nav-fleet').click();
      await page.locator('#fleet-hosts tr[data-host="b"]').waitFor();
      expect(await page.locator('#fleet-hosts').textContent()).toContain('up');
      await page.locator('#fleet-stop-off').waitFor();
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('kill -9 of the leader: the other host becomes the leader and posts the next event', async () => {
    const leader = isLeader(hosts.a as Host) ? (hosts.a as Host) : (hosts.b as Host);
    const other = leader === hosts.a ? (hosts.b as Host) : (hosts.a as Host);
    leader.run.kill('SIGKILL');
    await new Promise((r) => leader.run.once('exit', r));
    await waitFor('the other host to lead', 30_000, () => (isLeader(other) ? true : undefined));
    const stop = dancer(other, ['stop', '--reason', 'drill-two']);
    expect(stop.status, stop.stderr).toBe(0);
    await waitFor('drill-two on Zulip', 30_000, () => messagesWith('drill-two')[0]);
    await settle();
    expect(messagesWith('drill-two')).toHaveLength(1);
    const delivered = await pool.query(
      `SELECT delivered_by FROM fleet_voice WHERE payload::text LIKE '%drill-two%' AND channel = 'zulip'`,
    );
    expect(delivered.rows).toEqual([{ delivered_by: other.name }]);
    expect(dancer(other, ['resume']).status).toBe(0);
  });
});
