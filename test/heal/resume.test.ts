/**
 * The healing loop around an emergency stop (real store, real `runService` supervisor and
 * detector, real loop, the real Claude Code binary against the scripted model):
 * - a trigger that arrives while stopped is held, not lost, and runs once the stop is lifted
 *   (lifted from another process: only the flag in the store changes);
 * - fixes a stop left in `proposed` / `testing` are taken up on resume (from the live actions),
 *   not only at the next restart: a loop started while stopped leaves them alone until then.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { applyEvent, createFix, fixEvents, getFix, listFixes } from '../../src/fixes/records.js';
import { type HealingLoop, startHealingLoop } from '../../src/heal/loop.js';
import { type RunningService, runService } from '../../src/heal/run-service.js';
import type { TriggerEvent } from '../../src/patterns/detector.js';
import { clearEmergencyStop, setEmergencyStop } from '../../src/supervise/emergency.js';
import { type ModelServer, startModelServer } from '../../src/testing/index.js';
import { expectGone, makeServiceDir, waitFor } from '../supervise/helpers.js';

const LISTEN = path.resolve(import.meta.dirname, '../../dist/supervise/listen.js');
let server: ModelServer;

beforeAll(async () => {
  server = await startModelServer({ scenario: { turns: [] } });
});
afterAll(async () => {
  await server?.close();
});

/** The agent looks and declines: the consultation ends with `ignore` (the fix is rejected by the agent). */
function ignoreScenario(): void {
  server.setScenario({
    turns: [
      { tools: [{ name: 'mcp__dancer__submit_outcome', input: { kind: 'ignore', why: 'scripted: nothing to fix' } }] },
      { text: 'done' },
    ],
  });
}

interface Rig {
  dir: string;
  running: RunningService;
  loop: HealingLoop;
  logs: string[];
  close(): Promise<void>;
}

/** A git-tracked service under `runService`, with the healing loop on it; `before` runs on its store first. */
async function rig(before?: (running: RunningService) => void): Promise<Rig> {
  const dir = makeServiceDir(
    { start: 'node app.mjs' },
    {
      consult: { baseUrl: server.url, model: 'claude-opus-5-5', budget: { perHour: 100 } },
      fixes: { worktreeBase: '.dancer/worktrees', gate: { steps: [] } },
    },
  );
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
  writeFileSync(
    path.join(dir, 'app.mjs'),
    `import http from 'node:http';\nimport { listen } from ${JSON.stringify(LISTEN)};\nawait listen(http.createServer((q, s) => s.end('ok')));\n`,
  );
  git('init', '-q', '-b', 'main');
  git('-c', 'user.name=T', '-c', 'user.email=t@e', 'add', '-A');
  git('-c', 'user.name=T', '-c', 'user.email=t@e', '-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'init');
  const pids = new Set<number>();
  const logs: string[] = [];
  const loaded = loadConfig({ file: path.join(dir, 'dancer.yaml') });
  const running = await runService({
    loaded,
    signals: false,
    log: (m) => {
      const pid = /started worker pid (\d+)/.exec(m);
      if (pid) pids.add(Number(pid[1]));
    },
  });
  before?.(running);
  const loop = startHealingLoop({
    running,
    loaded,
    pollMs: 50,
    env: { PATH: process.env.PATH, ANTHROPIC_API_KEY: 'sk-test', CLAUDE_CODE_MAX_RETRIES: '0' },
    log: (m) => logs.push(m),
  });
  return {
    dir,
    running,
    loop,
    logs,
    async close() {
      await loop.stop();
      await running.stop();
      await expectGone([...pids]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function trigger(id: string): TriggerEvent {
  return {
    id,
    kind: 'new_pattern',
    urgent: false,
    numbers: {},
    reason: `scripted trigger ${id}`,
    at: Date.now(),
    decisionId: 0,
  };
}

let current: Rig | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('the healing loop around an emergency stop', () => {
  it('holds a trigger that arrives while stopped and runs it once the stop is lifted elsewhere', async () => {
    ignoreScenario();
    const r = await rig();
    current = r;
    const { db, detector } = r.running;
    if (!detector) throw new Error('no detector');
    await r.loop.idle();
    setEmergencyStop(db, 'human:test', 'incident');
    const requestsBefore = server.requests.length;
    detector.emit('trigger', trigger('held-1'));
    await r.loop.idle();
    expect(r.logs.join('\n')).toContain('trigger held until resume');
    expect(listFixes(db)).toEqual([]);
    expect(server.requests.length).toBe(requestsBefore);

    // `dancer resume` from another process only clears the flag; the loop's poll notices.
    clearEmergencyStop(db);
    const fix = await waitFor(
      () => listFixes(db).find((f) => f.state === 'rejected'),
      120_000,
      'the held trigger to become a fix the agent declined',
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${r.logs.join('\n')}\n${JSON.stringify(listFixes(db))}`);
    });
    expect(r.logs.join('\n')).toContain('emergency stop cleared: resuming');
    expect(fix.reason ?? '').toContain('ignore');
    expect(fixEvents(db, fix.id)[0]).toMatchObject({ actor: 'detector' });
    expect(server.requests.length).toBeGreaterThan(requestsBefore);
    expect(listFixes(db)).toHaveLength(1);

    // A trigger right after a resume, before the poll notices it: not lost either (the loop's
    // aborted signal is replaced as soon as the flag is gone).
    setEmergencyStop(db, 'human:test', 'again');
    await waitFor(() => r.logs.some((l) => l.includes('emergency stop engaged')), 10_000, 'the poll to see the stop');
    clearEmergencyStop(db);
    detector.emit('trigger', trigger('after-resume'));
    await waitFor(
      () => listFixes(db).length === 2 && listFixes(db).every((f) => f.state === 'rejected'),
      120_000,
      'a second fix',
    );
  }, 240_000);

  it('takes up fixes a stop left in proposed and testing on resume, not only at a restart', async () => {
    ignoreScenario();
    const ids: number[] = [];
    const r = await rig((running) => {
      // What a stop leaves behind: one fix before its consultation, one before its gate.
      const db = running.db;
      setEmergencyStop(db, 'human:test', 'incident');
      const t = Date.now();
      const base = { patternHash: 'abcdef12', patternText: 'boom <*>', actor: 'detector' as const, reason: 'spike' };
      ids.push(createFix(db, { ...base, patternId: 'p-1' }, t).id);
      const testing = createFix(db, { ...base, patternId: 'p-2', patternHash: 'abcdef34' }, t);
      applyEvent(db, testing.id, { event: 'submit', actor: 'agent', reason: 'committed', fields: { summary: 'x' } }, t);
      ids.push(testing.id);
    });
    current = r;
    const db = r.running.db;
    const [proposed, testing] = ids as [number, number];
    const requestsBefore = server.requests.length;
    // Started while stopped: nothing is resumed yet (the loop is idle, the fixes untouched).
    await r.loop.idle();
    expect(getFix(db, proposed).state).toBe('proposed');
    expect(getFix(db, testing).state).toBe('testing');
    expect(server.requests.length).toBe(requestsBefore);

    await r.loop.actions.resume('human:test');
    await waitFor(
      () => (['proposed', 'testing'].includes(getFix(db, proposed).state) ? undefined : true),
      120_000,
      'the proposed fix to be consulted on',
    );
    await waitFor(
      () => (getFix(db, testing).state === 'testing' ? undefined : true),
      60_000,
      'the testing fix to be gated or closed',
    );
    await r.loop.idle();
    // The proposed one was consulted on (the scripted agent declined it); the testing one had no
    // change to test and was closed by the policy.
    expect(getFix(db, proposed)).toMatchObject({ state: 'rejected' });
    expect(server.requests.length).toBeGreaterThan(requestsBefore);
    expect(getFix(db, testing).state).toBe('failed');
    expect(r.logs.join('\n')).toMatch(/resumed 2 fix\(es\) left by the emergency stop/);
  }, 180_000);
});
