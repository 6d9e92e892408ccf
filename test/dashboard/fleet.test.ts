/**
 * The dashboard's fleet page (only with a `fleet:` section), against a real PostgreSQL and in a
 * real browser: hosts with heartbeat age, release and state, patterns with per-host counts,
 * fixes with each host's deploy state, the fleet-wide stop: what `dancer fleet status` shows.
 * Without a fleet there is no Fleet tab and /api/fleet answers 404.
 */
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Dashboard, startDashboard } from '../../src/dashboard/index.js';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { fleetTemplateIds, heartbeatHost, setFleetStop, shipCounts } from '../../src/fleet/queries.js';
import { createRollout, reportDeploy } from '../../src/fleet/rollout.js';
import { readFleetStatus } from '../../src/fleet/status.js';
import { createLiveActions } from '../../src/heal/live-actions.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { CHROMIUM, seededStore } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

let pg: TestPostgres;
let pool: FleetPool;
let browser: Browser;
let fleetDash: Dashboard;
let plainDash: Dashboard;
const store = seededStore('dancer-dash-fleet-');

beforeAll(async () => {
  pg = await startPostgres();
  pool = openFleetPool(await pg.createDatabase('dash_fleet'));
  await migrateFleet(pool);
  await heartbeatHost(pool, 'web-1', { release: 'a'.repeat(40) });
  await heartbeatHost(pool, 'web-2', { release: 'b'.repeat(40) });
  await heartbeatHost(pool, 'web-3', { release: 'c'.repeat(40) });
  await pool.query(`UPDATE fleet_hosts SET heartbeat_at = now() - interval '5 minutes' WHERE name = 'web-3'`);
  const [t] = await fleetTemplateIds(pool, [{ text: 'TypeError: cart.items is undefined', fingerprint: 'f1' }]);
  const minute = Math.floor(Date.now() / 60_000);
  await shipCounts(pool, 'web-1', [{ templateId: t as number, minute, count: 4, errors: 4 }]);
  await shipCounts(pool, 'web-2', [{ templateId: t as number, minute, count: 9, errors: 9 }]);
  const fixId = await createRollout(pool, {
    patternKey: String(t),
    branch: 'dancer/fix-cart',
    commit: 'd'.repeat(40),
    host: 'web-2',
    hosts: ['web-1', 'web-2', 'web-3'],
    canary: 1,
    waveSize: 1,
  });
  await reportDeploy(pool, { fixId, host: 'web-2', state: 'observing', release: 'e'.repeat(40) });
  await setFleetStop(pool, 'web-1', { engaged: true, actor: 'cli:erin', reason: 'look at the canary first' });

  const common = {
    db: store.db,
    settings: { host: '127.0.0.1', port: 0, tokenEnv: undefined },
    actions: createLiveActions({ db: store.db }),
    service: 'shop',
  };
  fleetDash = await startDashboard({ ...common, fleetView: () => readFleetStatus(pool, { leaseSeconds: 60 }) });
  plainDash = await startDashboard(common);
  browser = await chromium.launch(CHROMIUM);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await fleetDash?.close();
  await plainDash?.close();
  await pool?.end();
  await pg?.stop();
  store.cleanup();
});

describe('the dashboard fleet page', () => {
  it('shows hosts, per-host pattern counts, per-host deploy states and the fleet stop', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${fleetDash.url}/`);
    await page.locator('#nav-fleet').click();
    await page.locator('#fleet-hosts tr[data-host="web-3"]').waitFor();
    const hosts = await page.locator('#fleet-hosts').textContent();
    expect(hosts).toContain('web-1');
    expect(hosts).toContain('unreachable'); // web-3's heartbeat is 5 minutes old
    expect(hosts).toContain('a'.repeat(12));
    const cells = async (row: string, host: string) =>
      page.locator(`${row} td[data-host="${host}"]`).first().textContent();
    expect(await cells('#fleet-patterns tr[data-pattern]', 'web-1')).toBe('4');
    expect(await cells('#fleet-patterns tr[data-pattern]', 'web-2')).toBe('9');
    expect(await cells('#fleet-patterns tr[data-pattern]', 'web-3')).toBe('0');
    expect(await page.locator('#fleet-patterns').textContent()).toContain('13');
    expect(await cells('#fleet-fixes tr[data-fix]', 'web-2')).toContain('observing');
    expect(await cells('#fleet-fixes tr[data-fix]', 'web-2')).toContain('(canary)');
    expect(await cells('#fleet-fixes tr[data-fix]', 'web-1')).toContain('pending');
    expect(await page.locator('#fleet-stop').textContent()).toContain('look at the canary first');

    // The page follows the control plane without a reload (it polls every 2 s).
    await setFleetStop(pool, 'web-1', { engaged: false, actor: 'cli:erin', reason: 'ok' });
    await page.locator('#fleet-stop-off').waitFor({ timeout: 15_000 });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('without a fleet: no Fleet tab, and /api/fleet is 404', async () => {
    const page = await browser.newPage();
    await page.goto(`${plainDash.url}/`);
    await page.locator('#service-state').waitFor();
    expect(await page.locator('#nav-fleet').count()).toBe(0);
    await page.close();
    const r = await fetch(`${plainDash.url}/api/fleet`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('DANCER_NOT_FOUND');
  });
});
