/**
 * Manual mode and budgets: bundles on disk, and a bundle run by hand with the real Claude Code
 * (needs `npm run build` for `dancer mcp`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideMode, runLimits } from '../../src/consult/budget.js';
import { runConsultation } from '../../src/consult/consultation.js';
import { getConsultation, getLedger, insertConsultation, insertLedger } from '../../src/consult/store.js';
import { type ModelServer, startModelServer } from '../../src/testing/index.js';
import {
  insertLogs,
  makeWorkspace,
  paymentRows,
  processesIn,
  TEST_ENV,
  testConfig,
  type Workspace,
} from './helpers.js';

const run = promisify(execFile);
const AT = Date.UTC(2026, 10, 25, 12, 0, 0);
const BIN = path.resolve('bin/dancer.js');
const CLAUDE = path.resolve('node_modules/@anthropic-ai/claude-agent-sdk-linux-x64/claude');
let ws: Workspace;
let server: ModelServer;
const trigger = {
  id: 't-m',
  kind: 'crash' as const,
  templateId: 7,
  urgent: true,
  numbers: { exitCode: 1 },
  reason: 'the service crashed',
  at: AT,
};
const policy = { protectedPaths: ['config/**'] };

beforeAll(async () => {
  ws = makeWorkspace('dancer-bundle-');
  insertLogs(ws.db, paymentRows(AT, 20));
  server = await startModelServer({ scenario: { turns: [] } });
});
afterAll(async () => {
  await server?.close();
  ws?.db.close();
});

describe('budgets (pure)', () => {
  const base = {
    configMode: 'auto' as const,
    hasApiKey: true,
    spentLastDayUsd: 0,
    startedLastHour: 0,
    perDayUsd: 10,
    perHour: 3,
  };
  it('decides between a model call and a bundle', () => {
    expect(decideMode(base)).toEqual({ mode: 'auto' });
    expect(decideMode({ ...base, configMode: 'manual' })).toMatchObject({ mode: 'manual', reason: 'config' });
    expect(decideMode({ ...base, hasApiKey: false })).toMatchObject({ mode: 'manual', reason: 'no_api_key' });
    expect(decideMode({ ...base, spentLastDayUsd: 10 })).toMatchObject({ mode: 'manual', reason: 'daily_budget' });
    expect(decideMode({ ...base, startedLastHour: 3 })).toMatchObject({ mode: 'manual', reason: 'hourly_limit' });
  });
  it('uses the urgent or routine budget, capped by what is left today', () => {
    const budgets = {
      urgent: { maxTurns: 40, maxBudgetUsd: 3, timeoutSeconds: 1200 },
      routine: { maxTurns: 20, maxBudgetUsd: 1, timeoutSeconds: 600 },
      perDayUsd: 5,
    };
    expect(runLimits(budgets, true, 0)).toEqual({ maxTurns: 40, maxBudgetUsd: 3, timeoutMs: 1_200_000 });
    expect(runLimits(budgets, false, 0)).toEqual({ maxTurns: 20, maxBudgetUsd: 1, timeoutMs: 600_000 });
    expect(runLimits(budgets, true, 4.5).maxBudgetUsd).toBeCloseTo(0.5);
  });
});

describe('manual mode', () => {
  it('becomes a bundle without an API key, when the daily budget is spent, or past the hourly limit', async () => {
    const common = { db: ws.db, trigger, worktree: ws.worktree, policy };
    const noKey = await runConsultation({ ...common, config: testConfig(ws, server.url), env: {} });
    expect(noKey).toMatchObject({ status: 'manual', bundle: { reason: 'no_api_key' } });

    const spentId = insertConsultation(ws.db, {
      createdAt: Date.now(),
      urgent: false,
      mode: 'auto',
      status: 'succeeded',
      brief: 'x',
    });
    insertLedger(ws.db, {
      consultationId: spentId,
      ts: Date.now(),
      model: 'm',
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheCreationTokens: 0,
      costUsd: 25,
      modelUsage: null,
      turns: 1,
      durationMs: 1,
      durationApiMs: null,
      outcome: 'fix',
    });
    const spent = await runConsultation({ ...common, config: testConfig(ws, server.url), env: TEST_ENV });
    expect(spent).toMatchObject({ status: 'manual', bundle: { reason: 'daily_budget' } });
    const hourly = await runConsultation({
      ...common,
      config: testConfig(ws, server.url, { budget: { perDayUsd: 1000, perHour: 1 } }),
      env: TEST_ENV,
    });
    expect(hourly).toMatchObject({ status: 'manual', bundle: { reason: 'hourly_limit' } });
    expect(server.requests).toHaveLength(0);
    expect(getLedger(ws.db, hourly.consultationId)).toMatchObject({ outcome: 'manual', costUsd: 0 });
  });

  it('writes a usable bundle: run.sh runs Claude Code by hand and submit_outcome lands in the store', async () => {
    const result = await runConsultation({
      db: ws.db,
      trigger,
      worktree: ws.worktree,
      policy,
      config: testConfig(ws, server.url, { mode: 'manual' }),
      env: TEST_ENV,
      dbPath: ws.dbPath,
    });
    expect(result.status).toBe('manual');
    const dir = result.bundle?.dir as string;
    for (const f of ['PROMPT.md', 'SYSTEM.md', 'mcp.json', 'run.sh', 'README.md'])
      expect(existsSync(path.join(dir, f))).toBe(true);
    const row = getConsultation(ws.db, result.consultationId);
    expect(readFileSync(path.join(dir, 'PROMPT.md'), 'utf8')).toBe(row?.brief);
    expect(readFileSync(path.join(dir, 'SYSTEM.md'), 'utf8')).toContain('mcp__dancer__submit_outcome');
    const mcp = JSON.parse(readFileSync(path.join(dir, 'mcp.json'), 'utf8'));
    expect(mcp.mcpServers.dancer.args).toEqual([
      BIN,
      'mcp',
      '--db',
      ws.dbPath,
      '--consultation',
      String(result.consultationId),
    ]);
    const script = readFileSync(path.join(dir, 'run.sh'), 'utf8');
    expect(script).toContain('--max-turns 40');
    expect(script).toContain(
      "--allowedTools 'Read,Grep,Glob,Edit,Write,Bash(node --version),Bash(node --version:*),mcp__dancer__submit_outcome,",
    );

    // `dancer consult --bundle ID` says where it is.
    const shown = await run(process.execPath, [
      BIN,
      'consult',
      '--bundle',
      String(result.consultationId),
      '--db',
      ws.dbPath,
      '--json',
    ]);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      consultation: result.consultationId,
      dir,
      run: `sh ${path.join(dir, 'run.sh')}`,
    });

    // A human runs it (here: the SDK's Claude Code binary against the scripted server).
    server.setScenario({
      turns: [
        {
          tools: [
            {
              name: 'mcp__dancer__submit_outcome',
              input: { kind: 'ignore', why: 'A load test hit the crash path on purpose.' },
            },
          ],
        },
        { text: 'done' },
      ],
    });
    const home = path.join(ws.root, 'human-home');
    mkdirSync(home);
    await run('sh', [path.join(dir, 'run.sh')], {
      env: {
        PATH: process.env.PATH,
        HOME: home,
        CLAUDE,
        ANTHROPIC_BASE_URL: server.url,
        ANTHROPIC_API_KEY: 'sk-test',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        CLAUDE_CODE_TMPDIR: path.join(ws.root, 'human-tmp'),
      },
      timeout: 60_000,
    });
    expect(server.surprises()).toEqual([]);
    expect(server.mainLoopRequests().length).toBe(2);
    const transcript = readFileSync(path.join(dir, 'transcript.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(transcript.at(-1)).toMatchObject({ type: 'result', is_error: false });
    expect(getConsultation(ws.db, result.consultationId)).toMatchObject({
      status: 'succeeded',
      outcome: { kind: 'ignore' },
    });
    expect(processesIn(ws.worktree)).toEqual([]);
  }, 90_000);
});
