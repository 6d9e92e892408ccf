/**
 * Oversight over the demo's database: the self-healing demo runs for real (both acts), then
 * `dancer dashboard`, `dancer top --once` and `dancer consultations` read what it left, and a
 * browser walks the pages of both fixes. Needs `npm run build` first.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run-demo.js';
import { CHROMIUM } from '../dashboard/helpers.js';
import { killAll, strayProcesses, waitFor } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'dancer.js');
const SHOTS = path.join(ROOT, 'test-results', 'dashboard');
const root = mkdtempSync(path.join(tmpdir(), 'dancer-e2e-dash-demo-'));
let repo: string;
let dashboard: ChildProcess | undefined;
let url: string;
let output = '';

beforeAll(async () => {
  const summary = await runDemo({ windowSeconds: 5, root, say: () => undefined, actTimeoutSeconds: 180 });
  expect(summary.failure).toBeUndefined();
  expect(summary.rolledBack).toBe(true);
  repo = summary.repo;
  dashboard = spawn(process.execPath, [BIN, 'dashboard', '--config', path.join(repo, 'dancer.yaml'), '--port', '0'], {
    cwd: repo,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  dashboard.stderr?.on('data', (c) => {
    output += c;
  });
  url = await waitFor('the dashboard', 30_000, () => {
    if (dashboard?.exitCode !== null) throw new Error(`dancer dashboard exited:\n${output}`);
    return /dashboard: (http:\/\/\S+?)\/ /.exec(output)?.[1];
  });
}, 480_000);

afterAll(async () => {
  if (dashboard && dashboard.exitCode === null) {
    dashboard.kill('SIGTERM');
    await new Promise((r) => dashboard?.once('exit', r));
  }
  killAll(await strayProcesses(root, 1000));
  rmSync(root, { recursive: true, force: true });
});

const dancer = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args, '--config', path.join(repo, 'dancer.yaml')], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });

describe("oversight over the demo's database", () => {
  it('the API shows both fixes with their whole provenance and before/after figures', async () => {
    const fixes = (await (await fetch(`${url}/api/fixes`)).json()) as Array<{ id: number; state: string }>;
    const states = Object.fromEntries(fixes.map((f) => [f.id, f.state]));
    expect(Object.values(states)).toEqual(expect.arrayContaining(['deployed', 'rolled_back']));
    const bad = fixes.find((f) => f.state === 'rolled_back') as { id: number };
    // biome-ignore lint/suspicious/noExplicitAny: checked field by field below
    const detail = (await (await fetch(`${url}/api/fixes/${bad.id}`)).json()) as any;
    expect(detail.diff).toMatch(/^diff --git/m);
    expect(detail.gateSteps.length).toBeGreaterThan(0);
    expect(detail.provenance.consultation).toMatchObject({ status: 'succeeded' });
    expect(detail.provenance.consultation.costUsd).toBeGreaterThan(0);
    expect(detail.provenance.release).toMatch(/^[0-9a-f]{40}$/);
    const rolledBack = detail.deploys.find((d: { status: string }) => d.status === 'rolled_back');
    expect(rolledBack.before.errorRate).toBeGreaterThan(0);
    expect(rolledBack.after.errorRate).toBeGreaterThan(rolledBack.before.errorRate);
    // Backwards: the release names the fix.
    const back = (await (
      await fetch(`${url}/api/fixes?release=${detail.provenance.release.slice(0, 12)}`)
    ).json()) as Array<{ id: number }>;
    expect(back.map((f) => f.id)).toEqual([bad.id]);
    const consultation = (await (await fetch(`${url}/api/consultations/${detail.consultationId}`)).json()) as {
      transcript: unknown[];
      fixes: Array<{ id: number }>;
    };
    expect(consultation.transcript.length).toBeGreaterThan(2);
    expect(consultation.fixes.map((f) => f.id)).toContain(bad.id);
    const logs = (await (
      await fetch(`${url}/api/logs?q=${encodeURIComponent('"unsupported currency"')}`)
    ).json()) as unknown[];
    expect(logs.length).toBeGreaterThan(0);
  });

  it('the pages load in a browser', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const browser = await chromium.launch(CHROMIUM);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      for (const [hash, selector, shot] of [
        ['#/', '#deploys', 'demo-overview'],
        ['#/patterns', '#patterns', 'demo-patterns'],
        ['#/fixes/1', '#diff', 'demo-fix-1'],
        ['#/fixes/2', '#provenance', 'demo-fix-2'],
        ['#/consultations/1', '#transcript', 'demo-consultation'],
        ['#/audit', '#audit', 'demo-audit'],
      ] as const) {
        await page.goto(`${url}/${hash}`);
        await page.locator(selector).waitFor();
        await page.screenshot({ path: path.join(SHOTS, `${shot}.png`), fullPage: true });
      }
      await page.goto(`${url}/#/logs`);
      await page.fill('#log-query', '"unsupported currency"');
      await page.press('#log-query', 'Enter');
      await page.locator('#logs', { hasText: 'unsupported currency' }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('dancer top --once and dancer consultations read it too', () => {
    const top = dancer('top', '--once', '--json');
    expect(top.status, top.stderr).toBe(0);
    const frame = JSON.parse(top.stdout);
    expect(frame.service).toBe('checkout');
    expect(frame.errorsPerMin.some((n: number) => n > 0)).toBe(true);
    const list = dancer('consultations', 'list', '--json');
    expect(list.status, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).length).toBeGreaterThanOrEqual(2);
    const show = dancer('fixes', 'show', '2');
    expect(show.stdout).toMatch(/-> consultation \d+: succeeded/);
    expect(show.stdout).toContain('error rate');
  });
});
