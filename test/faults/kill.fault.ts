/**
 * kill -9 of `dancer run` with the fix in each of the seven states it can be in when the process
 * dies (src/fixes/state.ts: proposed, testing, awaiting_approval, approved, deploying, observing,
 * deployed). One fix, one service, seven kills: after each kill the harness starts `dancer run`
 * again at once (as systemd's Restart= would) and the fix must carry on from where it was, to a
 * deployed release, with one fix row for the pattern and the service on the release it should
 * serve. The approval is a human's (`policy.autoApprove: none`), so the fix waits in
 * `awaiting_approval`; for `approved`, the supervisor is frozen (SIGSTOP) while the human approves,
 * then killed, so the fix is `approved` at the kill for certain.
 *
 * `dancer run` is socket-activated, as under systemd's .socket unit: the harness binds the port
 * once and passes it to every `dancer run` as fd 3 (LISTEN_FDS), so the socket outlives a killed
 * supervisor, its workers keep serving on it meanwhile, and the restarted supervisor adopts them
 * (drains them once its own worker is ready). No request may be dropped.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { TrafficStats } from '../../src/demo/traffic.js';
import { waitFor } from '../e2e/helpers.js';
import { goodFix } from './agent.js';
import { removeTemplate, ShopStack } from './fixture.js';
import { auditTrail, lastGoodTree } from './run.js';
import { type FaultResult, KILL_STATES, SCENARIOS, writeResult } from './table.js';

let stack: ShopStack | undefined;
let fixId = 0;

afterAll(async () => {
  const stray = await stack?.stop();
  removeTemplate();
  expect(stray ?? [], 'processes left under the scenario folder').toEqual([]);
}, 60_000);

/** The state each kill waits for after the restart before its row is measured. */
const SETTLED: Record<(typeof KILL_STATES)[number], string[]> = {
  proposed: ['testing'],
  testing: ['awaiting_approval'],
  awaiting_approval: ['awaiting_approval'],
  approved: ['deploying'],
  deploying: ['observing', 'deployed'],
  observing: ['deployed'],
  deployed: ['deployed'],
};

function fixState(s: ShopStack): string | undefined {
  return s.fixes().find((f) => f.id === fixId)?.state;
}

/** The tree the service should serve with the fix in `state`: the fix's once it is live. */
function expectedTree(s: ShopStack, state: string): { tree: string; label: string } {
  if (state === 'observing') {
    const merge = s.query<{ merge_commit: string }>('SELECT merge_commit FROM fixes WHERE id = ?', fixId)[0];
    return { tree: s.git(['rev-parse', `${merge?.merge_commit}^{tree}`]), label: 'fix (observing)' };
  }
  return lastGoodTree(s);
}

/** The supervisor's pid and the worker pids it recorded. */
function supervisorRow(s: ShopStack): { pid: number | null; state: string; workers: number[] } {
  const row = s.query<{ workers: string; supervisor_pid: number | null; state: string }>(
    "SELECT workers, supervisor_pid, state FROM supervisor_state WHERE service = 'shop'",
  )[0];
  const workers = (JSON.parse(row?.workers ?? '[]') as Array<{ pid: number }>).map((w) => w.pid);
  return { pid: row?.supervisor_pid ?? null, state: row?.state ?? 'none', workers };
}

/** True while `pid` runs (a zombie waiting to be reaped has exited). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function killInState(s: ShopStack, state: (typeof KILL_STATES)[number]): Promise<FaultResult> {
  const t0 = Date.now();
  if (state === 'approved') {
    const sup = s.supervisor!;
    sup.kill('SIGSTOP');
    await s.dancer(['fixes', 'approve', String(fixId), '--by', 'faults']);
  }
  const before: TrafficStats = s.traffic!.stats();
  const workers = supervisorRow(s).workers;
  const killedAt = Date.now();
  await s.killSupervisor();
  const atKill = fixState(s);
  expect(atKill, `the fix's state when dancer run died (kill-9-${state})`).toBe(state);
  // The socket is the launcher's: the killed supervisor's workers keep serving on it.
  expect(workers.filter(alive), "the killed supervisor's workers serve on").not.toEqual([]);
  await new Promise((r) => setTimeout(r, 1000)); // a second with no supervisor at all
  const child = await s.startSupervisor();
  // Recovered: the new supervisor runs its own worker; the orphans drain, then exit.
  await waitFor('the restarted supervisor to run its own worker', 60_000, () => {
    const row = supervisorRow(s);
    return row.pid === child.pid && row.state !== 'starting' && row.workers.some((p) => !workers.includes(p))
      ? true
      : undefined;
  });
  const upAt = Date.now();
  await waitFor("the killed supervisor's workers to be drained", 30_000, () =>
    workers.every((pid) => !alive(pid)) ? true : undefined,
  );
  const settled =
    state === 'awaiting_approval' || state === 'deployed'
      ? await new Promise<string>((r) => setTimeout(() => r(fixState(s) ?? ''), 3000))
      : (await s.fixIn(SETTLED[state], 150_000)).state;
  const good = expectedTree(s, settled);
  await waitFor('the expected release to serve', 30_000, () =>
    s.currentRelease() === good.tree ? true : undefined,
  ).catch(() => undefined);
  const after = s.traffic!.stats();
  const serving = s.currentRelease();
  const head = s.git(['rev-parse', 'HEAD^{tree}']);
  const headOk = settled === 'observing' || settled === 'deploying' ? true : head === good.tree;
  const id = `kill-9-${state}`;
  const result: FaultResult = {
    id,
    fault: SCENARIOS.find((x) => x.id === id)!.fault,
    outcome: `restarted, its own worker ready ${upAt - killedAt} ms after the kill, the orphans drained; the fix carried on from ${atKill} to ${settled}`,
    audit: auditTrail(s),
    fixState: settled,
    endsOn: serving === good.tree ? good.label : (serving?.slice(0, 12) ?? 'nothing'),
    onLastGood: serving === good.tree && headOk,
    detectMs: null,
    recoverMs: upAt - killedAt,
    served:
      after.ok + after.clientErrors + after.serverErrors - (before.ok + before.clientErrors + before.serverErrors),
    failed: after.failed - before.failed,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  writeResult(result);
  expect(serving, `${id}: the release serving\n${s.log()}`).toBe(good.tree);
  expect(headOk, `${id}: HEAD's tree equals the serving release`).toBe(true);
  expect(s.fixes(), 'one fix for the pattern, resumed rather than started again').toHaveLength(1);
  return result;
}

describe('kill -9 of dancer run in each fix state', () => {
  it('the fix carries on after each kill and the service ends on the fix release', { timeout: 900_000 }, async () => {
    stack = await ShopStack.create(goodFix(), { policy: { autoApprove: 'none' } });
    stack.socketActivated = true;
    await stack.startSupervisor();
    stack.startTraffic();
    const results: FaultResult[] = [];
    for (const state of KILL_STATES) {
      if (state === 'approved') {
        // already waiting for a human since the awaiting_approval kill
      } else {
        const fix = await stack.fixIn([state], 150_000);
        fixId = fix.id;
      }
      results.push(await killInState(stack, state));
    }
    expect(fixState(stack)).toBe('deployed');
    expect(results.map((r) => r.onLastGood)).toEqual(KILL_STATES.map(() => true));
    // The service answered throughout: no request dropped at any kill.
    expect(results.map((r) => `${r.id}: ${r.failed}`)).toEqual(results.map((r) => `${r.id}: 0`));
  });
});
