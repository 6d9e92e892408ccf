import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Dashboard, startDashboard } from '../../src/dashboard/index.js';
import { getFix } from '../../src/fixes/records.js';
import { createLiveActions } from '../../src/heal/live-actions.js';
import { listAudit } from '../../src/notify/audit.js';
import { openStore } from '../../src/store/open.js';
import { setEmergencyStop } from '../../src/supervise/emergency.js';
import { CHROMIUM, SECRET, seededStore } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

/** Screenshots go to the test output (not committed). */
const SHOTS = path.resolve(import.meta.dirname, '../../test-results/dashboard');

const TOKEN = 'browser-token-42';
let browser: Browser;
const store = seededStore('dancer-dash-browser-');
let dashboard: Dashboard;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dashboard = await startDashboard({
    db: store.db,
    settings: { host: '127.0.0.1', port: 0, tokenEnv: 'DASH_TOKEN' },
    actions: createLiveActions({ db: store.db }),
    service: 'shop',
    env: { DASH_TOKEN: TOKEN },
  });
  browser = await chromium.launch(CHROMIUM);
});

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  store.cleanup();
});

describe('the dashboard page in a real browser', () => {
  it('loads every page; an approve with the token changes the fix and the page follows by itself', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${dashboard.url}/`);
    await page.locator('#service-state').waitFor();
    await expect(page.locator('#open-fixes').textContent()).resolves.toBe('1');
    await page.locator('#live.on').waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'overview.png'), fullPage: true });

    for (const [hash, selector] of [
      ['#/patterns', '#patterns'],
      ['#/fixes', '#fixes'],
      ['#/audit', '#audit'],
      ['#/consultations/1', '#transcript'],
    ] as const) {
      await page.goto(`${dashboard.url}/${hash}`);
      await page.locator(selector).waitFor();
    }
    expect(await page.content()).not.toContain(SECRET);
    await page.screenshot({ path: path.join(SHOTS, 'consultation.png'), fullPage: true });

    await page.goto(`${dashboard.url}/#/fixes/${store.fix.id}`);
    await page.locator('#fix-state', { hasText: 'awaiting_approval' }).waitFor();
    await page.locator('#provenance').waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'fix-before.png'), fullPage: true });
    await page.fill('#token', TOKEN);
    await page.fill('#actor', 'erin');
    await page.click('button[data-action="approve"]');
    // No reload: the server-sent event of the transition makes the page fetch the fix again.
    await page.locator('#fix-state', { hasText: 'approved' }).waitFor();
    expect(getFix(store.db, store.fix.id).state).toBe('approved');
    expect(listAudit(store.db).at(-1)).toMatchObject({ actor: 'dashboard:erin', action: 'approve', outcome: 'ok' });
    await page.locator('#timeline', { hasText: 'human:erin' }).waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'fix-approved.png'), fullPage: true });

    // A stop made by another process (as `dancer stop` does) shows up without a reload.
    const other = openStore(store.file);
    try {
      setEmergencyStop(other, 'cli:frank', 'database migration');
      await page.locator('#stop-banner', { hasText: 'cli:frank' }).waitFor();
      other.prepare("DELETE FROM flags WHERE name = 'emergency_stop'").run();
      await page.locator('#stop-banner').waitFor({ state: 'detached' });
    } finally {
      other.close();
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a wrong token is refused and said so on the page', async () => {
    const page = await browser.newPage();
    await page.goto(`${dashboard.url}/`);
    await page.locator('#service-state').waitFor();
    await page.fill('#token', 'not-the-token');
    page.once('dialog', (d) => void d.accept('testing'));
    await page.click('button[data-action="stop"]');
    await page.locator('#action-result', { hasText: 'DANCER_UNAUTHORIZED' }).waitFor();
    await page.close();
  });
});
