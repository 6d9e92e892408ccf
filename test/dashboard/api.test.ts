import { afterEach, describe, expect, it } from 'vitest';
import { type Dashboard, startDashboard } from '../../src/dashboard/index.js';
import { approveFix } from '../../src/fixes/pipeline.js';
import { getFix } from '../../src/fixes/records.js';
import { createLiveActions } from '../../src/heal/live-actions.js';
import { listAudit } from '../../src/notify/audit.js';
import { openStore } from '../../src/store/open.js';
import { setEmergencyStop } from '../../src/supervise/emergency.js';
import { openEvents, SECRET, seededStore } from './helpers.js';

const TOKEN = 'test-token-0123456789';
// biome-ignore lint/suspicious/noExplicitAny: API answers are checked by the assertions themselves
type Json = any;
/** The JSON body of a response (or of a response promise). */
async function json(r: Response | Promise<Response>): Promise<Json> {
  return (await r).json();
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(options: { token?: boolean; host?: string } = {}) {
  const s = seededStore();
  cleanups.push(() => s.cleanup());
  const env = options.token === false ? {} : { DASH_TOKEN: TOKEN };
  const dashboard: Dashboard = await startDashboard({
    db: s.db,
    settings: { host: options.host ?? '127.0.0.1', port: 0, tokenEnv: 'DASH_TOKEN' },
    actions: createLiveActions({ db: s.db }),
    service: 'shop',
    env,
  });
  cleanups.push(() => dashboard.close());
  return { ...s, dashboard, url: dashboard.url };
}

const post = (url: string, body: unknown = {}, token?: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

describe('dashboard JSON API over a real store', () => {
  it('serves every read route, with log, gate and transcript text redacted', async () => {
    const { url, fix } = await start();
    const status = await json(fetch(`${url}/api/status`));
    expect(status).toMatchObject({
      service: 'shop',
      readOnly: false,
      openFixes: [{ id: fix.id, state: 'awaiting_approval' }],
    });
    expect(status.traffic.minutes).toHaveLength(60);

    const fixes = await json(fetch(`${url}/api/fixes`));
    expect(fixes.map((f: { id: number }) => f.id)).toEqual([fix.id]);

    const detail = await json(fetch(`${url}/api/fixes/${fix.id}`));
    expect(detail.events.map((e: { toState: string }) => e.toState)).toEqual([
      'proposed',
      'testing',
      'awaiting_approval',
    ]);
    expect(detail.gateSteps[0]).toMatchObject({ name: 'test', ok: true });
    expect(detail.consultationId).toBe('1');
    expect(detail.provenance).toMatchObject({
      pattern: { id: '7' },
      consultation: { id: 1, costUsd: 0.0123, turns: 3 },
      fix: { id: fix.id },
      release: null,
    });
    expect(JSON.stringify(detail)).not.toContain(SECRET);

    const consultation = await json(fetch(`${url}/api/consultations/1`));
    expect(consultation.transcript.map((m: { role: string }) => m.role)).toEqual([
      'assistant',
      'assistant',
      'result (success)',
    ]);
    expect(consultation.transcript[1].text).toContain('[tool Edit]');
    expect(consultation.fixes).toEqual([expect.objectContaining({ id: fix.id })]);
    const raw = JSON.stringify(consultation);
    expect(raw).not.toContain(SECRET);
    expect(raw).toContain('I found the key');

    const audit = await json(fetch(`${url}/api/audit?actor=bob`));
    expect(audit.map((a: { actor: string }) => a.actor)).toEqual(['cli:bob']);
    expect(await json(fetch(`${url}/api/audit?actor=nobody`))).toEqual([]);

    expect((await fetch(`${url}/api/patterns`)).status).toBe(200);
    const missing = await fetch(`${url}/api/patterns/999`);
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe('DANCER_NOT_FOUND');
    expect((await fetch(`${url}/api/fixes/abc`)).status).toBe(400);
    expect((await fetch(`${url}/api/logs`)).status).toBe(400);
    expect(await json(fetch(`${url}/api/logs?q=cart`))).toEqual([]);

    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${url}/vendor/uPlot.js`)).status).toBe(200);
    expect((await fetch(`${url}/vendor/htm-preact.js`)).status).toBe(200);
  });

  it('actions: 401 without or with a wrong token; with it the fix is approved and audited with the actor', async () => {
    const { url, fix, db } = await start();
    const none = await post(`${url}/api/fixes/${fix.id}/approve`);
    expect(none.status).toBe(401);
    expect((await json(none)).error.code).toBe('DANCER_UNAUTHORIZED');
    expect((await post(`${url}/api/fixes/${fix.id}/approve`, {}, 'wrong')).status).toBe(401);
    expect(getFix(db, fix.id).state).toBe('awaiting_approval');

    const ok = await post(`${url}/api/fixes/${fix.id}/approve`, { by: 'alice' }, TOKEN);
    expect(ok.status).toBe(200);
    expect(getFix(db, fix.id).state).toBe('approved');
    const last = listAudit(db).at(-1);
    expect(last).toMatchObject({
      actor: 'dashboard:alice',
      source: 'dashboard',
      action: 'approve',
      target: `fix:${fix.id}`,
      outcome: 'ok',
    });

    // An approve of an approved fix is an illegal transition: 409, audited as refused.
    const again = await post(`${url}/api/fixes/${fix.id}/approve`, { by: 'alice' }, TOKEN);
    expect(again.status).toBe(409);
    expect(listAudit(db).at(-1)).toMatchObject({ action: 'approve', outcome: 'refused' });
  });

  it('stop and resume through the API; an approval while stopped is refused like everywhere else', async () => {
    const { url, fix, db } = await start();
    const stop = await post(`${url}/api/stop`, { by: 'carol', reason: 'incident' }, TOKEN);
    expect(stop.status).toBe(200);
    const refused = await post(`${url}/api/fixes/${fix.id}/approve`, { by: 'carol' }, TOKEN);
    expect(refused.status).toBe(409);
    expect((await json(refused)).error.code).toBe('DANCER_EMERGENCY_STOP');
    expect(getFix(db, fix.id).state).toBe('awaiting_approval');
    expect((await post(`${url}/api/resume`, { by: 'carol' }, TOKEN)).status).toBe(200);
    expect(
      (await post(`${url}/api/fixes/${fix.id}/reject`, { by: 'carol', reason: 'not this way' }, TOKEN)).status,
    ).toBe(200);
    expect(getFix(db, fix.id).state).toBe('rejected');
    const retry = await post(`${url}/api/fixes/${fix.id}/retry`, { by: 'carol', reason: 'try again' }, TOKEN);
    expect(retry.status).toBe(200);
    expect(
      listAudit(db)
        .map((a) => `${a.actor} ${a.action} ${a.outcome}`)
        .slice(-5),
    ).toEqual([
      'dashboard:carol stop ok',
      'dashboard:carol approve refused',
      'dashboard:carol resume ok',
      'dashboard:carol reject ok',
      'dashboard:carol retry ok',
    ]);
  });

  it('without a token configured the dashboard is read-only: actions answer 403', async () => {
    const { url, fix, db } = await start({ token: false });
    expect((await json(fetch(`${url}/api/status`))).readOnly).toBe(true);
    const r = await post(`${url}/api/fixes/${fix.id}/approve`, {}, 'anything');
    expect(r.status).toBe(403);
    expect((await json(r)).error.code).toBe('DANCER_READ_ONLY');
    expect(getFix(db, fix.id).state).toBe('awaiting_approval');
  });

  it('refuses to bind a non-loopback address without a token', async () => {
    await expect(start({ host: '0.0.0.0', token: false })).rejects.toMatchObject({ code: 'DANCER_DASHBOARD_INSECURE' });
  });

  it('sends one event per change, also for changes another process made (CLI approve, CLI stop)', async () => {
    const { url, fix, file } = await start();
    const sse = openEvents(`${url}/api/events`);
    cleanups.push(() => sse.close());
    await sse.waitFor((e) => e.event === 'hello');
    // Another connection to the same file, as `dancer fixes approve` and `dancer stop` use.
    const other = openStore(file);
    cleanups.push(() => {
      other.close();
    });
    await approveFix({ db: other }, fix.id, 'dave', '');
    const transition = await sse.waitFor((e) => e.event === 'fix_state');
    expect(transition.data).toMatchObject({
      fixId: fix.id,
      from: 'awaiting_approval',
      to: 'approved',
      actor: 'human:dave',
    });
    setEmergencyStop(other, 'cli:dave', 'maintenance');
    expect((await sse.waitFor((e) => e.event === 'stop')).data).toMatchObject({
      by: 'cli:dave',
      reason: 'maintenance',
    });
    other.prepare("DELETE FROM flags WHERE name = 'emergency_stop'").run();
    await sse.waitFor((e) => e.event === 'resume');
    expect(sse.events.filter((e) => e.event === 'fix_state')).toHaveLength(1);
  });
});
