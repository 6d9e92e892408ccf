/**
 * Control out of reach: while the emergency stop is engaged, approve, reject and retry are
 * refused from every face (the real CLI, the live actions behind Zulip), and an emergency stop
 * ends a running agent and its sandboxed Bash command at once (real Claude Code).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixesSchema } from '../../src/config/schema/fixes.js';
import { runConsultation } from '../../src/consult/consultation.js';
import { isDancerError } from '../../src/errors.js';
import { applyEvent, createFix, fixEvents, getFix } from '../../src/fixes/records.js';
import { createLiveActions } from '../../src/heal/live-actions.js';
import { setEmergencyStop } from '../../src/supervise/index.js';
import { type ModelServer, startModelServer } from '../../src/testing/index.js';
import { makeWorkspace, testConfig, type Workspace } from '../consult/helpers.js';
import { type AttackResult, storedAttacks, writeAttacks } from './attacks.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, '../../bin/dancer.js');
const MARKER = '323.5';
let ws: Workspace;
let server: ModelServer;
const results: AttackResult[] = [];

function record(r: AttackResult): void {
  results.push(r);
  expect(r.blocked, `${r.id}: ${r.evidence}`).toBe(true);
}

function processesWith(needle: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

beforeAll(async () => {
  if (!existsSync(path.resolve(here, '../../dist/cli/main.js'))) throw new Error('run npm run build first');
  ws = makeWorkspace('dancer-attack-control-');
  server = await startModelServer({ scenario: { turns: [] } });
});

afterAll(async () => {
  await server?.close();
  ws?.db.close();
  for (const pid of processesWith(`sleep ${MARKER}`)) process.kill(pid, 'SIGKILL');
  if (process.env.DANCER_UPDATE_ATTACKS) writeAttacks(results);
  else {
    const stored = new Map(storedAttacks().map((r) => [r.id, r]));
    for (const r of results) expect(stored.get(r.id)?.blocked, `${r.id} is in test/security/attacks.json`).toBe(true);
  }
});

describe('control while the emergency stop is engaged', () => {
  it('approve, reject and retry are refused by the CLI and the live actions (Zulip)', async () => {
    const t = Date.now();
    const fix = createFix(ws.db, { patternId: '7', patternHash: 'h', actor: 'detector', reason: 'r' }, t);
    applyEvent(ws.db, fix.id, { event: 'submit', actor: 'agent', reason: 'proposed' }, t);
    applyEvent(ws.db, fix.id, { event: 'pass', actor: 'gate', reason: 'passed' }, t);
    const done = createFix(ws.db, { patternId: '8', patternHash: 'h2', actor: 'detector', reason: 'r' }, t);
    applyEvent(ws.db, done.id, { event: 'fail', actor: 'agent', reason: 'failed' }, t);
    setEmergencyStop(ws.db, 'operator', 'incident', t);
    const events = fixEvents(ws.db, fix.id).length;
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args, '--db', ws.dbPath], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
    const runs = [
      cli('fixes', 'approve', String(fix.id), '--by', 'alice'),
      cli('fixes', 'reject', String(fix.id), '--by', 'alice', '--reason', 'no'),
      cli('fixes', 'retry', String(done.id), '--by', 'alice'),
    ];
    const refused = runs.every((r) => r.status !== 0 && r.stderr.includes('emergency stop is engaged'));
    record({
      id: 'control-cli-stopped',
      class: 'emergency stop',
      where: 'control',
      attack: '`dancer fixes approve|reject|retry` while the emergency stop is engaged',
      blocked:
        refused && getFix(ws.db, fix.id).state === 'awaiting_approval' && fixEvents(ws.db, fix.id).length === events,
      evidence: `exit ${runs.map((r) => r.status).join('/')}: ${runs[0]?.stderr.trim().split('\n')[0]}`,
    });
    const actions = createLiveActions({ db: ws.db });
    const codes: string[] = [];
    for (const attempt of [
      () => actions.approve(fix.id, 'human:alice'),
      () => actions.reject(fix.id, 'human:alice', 'no'),
    ]) {
      try {
        await attempt();
        codes.push('accepted');
      } catch (error) {
        codes.push(isDancerError(error) ? error.code : String(error));
      }
    }
    record({
      id: 'control-live-stopped',
      class: 'emergency stop',
      where: 'control',
      attack: 'approve and reject through the live actions (Zulip, dashboards) while stopped',
      blocked: codes.every((c) => c === 'DANCER_EMERGENCY_STOP') && getFix(ws.db, fix.id).state === 'awaiting_approval',
      evidence: codes.join(', '),
    });
  }, 60_000);

  it('an emergency stop ends the agent and its sandboxed Bash command at once', async () => {
    copyFileSync(path.join(here, 'probe.mjs'), path.join(ws.worktree, 'unused-probe.mjs'));
    writeFileSync(
      path.join(ws.worktree, 'hang.test.mjs'),
      `import cp from 'node:child_process';\ncp.spawn('/bin/sh', ['-c', 'setsid sleep ${MARKER} &'], { stdio: 'ignore' });\nawait new Promise(() => setInterval(() => {}, 1000));\n`,
    );
    server.setScenario({
      turns: [
        { tools: [{ name: 'Bash', input: { command: 'node --test hang.test.mjs', timeout: 600000 } }] },
        { text: 'done' },
      ],
    });
    const controller = new AbortController();
    const consultation = runConsultation({
      db: ws.db,
      brief: 'Hang.',
      worktree: ws.worktree,
      policy: { protectedPaths: [], notes: [] },
      config: testConfig(ws, server.url, { allowedCommands: ['node --test'] }),
      env: { ANTHROPIC_API_KEY: 'sk-test' },
      extraEnv: { CLAUDE_CODE_MAX_RETRIES: '0' },
      signal: controller.signal,
      sandboxConfig: fixesSchema.parse({}).sandbox,
    });
    for (let i = 0; i < 600 && processesWith(`sleep ${MARKER}`).length === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(processesWith(`sleep ${MARKER}`).length).toBeGreaterThan(0);
    const stopAt = performance.now();
    controller.abort();
    const result = await consultation;
    const ms = performance.now() - stopAt;
    const left = processesWith(`sleep ${MARKER}`);
    record({
      id: 'stop-agent',
      class: 'emergency stop',
      where: 'control',
      attack: 'the agent and a hanging Bash command (with a setsid child) keep running through a stop',
      blocked: result.status === 'failed' && left.length === 0,
      evidence: `agent, command and child gone ${Math.round(ms)} ms after the stop; ${left.length} left`,
    });
  }, 120_000);
});
