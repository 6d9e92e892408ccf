/**
 * `dancer consult` through the built CLI (needs `npm run build`).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertLogs, makeWorkspace, paymentRows, type Workspace } from './helpers.js';

const run = promisify(execFile);
const BIN = path.resolve('bin/dancer.js');
let ws: Workspace;

beforeAll(() => {
  ws = makeWorkspace('dancer-cli-consult-');
  insertLogs(ws.db, paymentRows(Date.now(), 20));
});
afterAll(() => ws?.db.close());

const dancer = (args: string[]) =>
  run(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1', ANTHROPIC_API_KEY: '' } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('dancer consult', () => {
  it('--dry-run prints the exact brief and the tool list without calling a model', async () => {
    const r = await dancer(['consult', '--pattern', '7', '--dry-run', '--db', ws.dbPath, '--worktree', ws.worktree]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('## Consultation brief');
    expect(r.stdout).toContain('## Representative records');
    expect(r.stdout).toContain('## Source where the error originates: src/payment.js');
    expect(r.stdout).toContain('--- tools ---');
    expect(r.stdout).toMatch(/^mcp__dancer__submit_outcome: /m);
    expect(r.stdout).toMatch(/^mcp__dancer__search_logs: /m);
    expect(r.stdout).not.toMatch(/^Bash:/m);
    expect(r.stderr).toMatch(/no model was called/);
  });

  it('--dry-run --json gives the brief, its sections, the system prompt and the tools', async () => {
    const r = await dancer([
      'consult',
      '--pattern',
      '7',
      '--dry-run',
      '--json',
      '--db',
      ws.dbPath,
      '--worktree',
      ws.worktree,
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.brief.tokens).toBeLessThanOrEqual(12_000);
    expect(out.brief.text).toContain('Pattern #7');
    expect(out.brief.sections.map((s: { id: string }) => s.id)).toContain('samples');
    expect(out.systemPrompt).toContain('UNTRUSTED DATA');
    expect(out.tools.map((t: { name: string }) => t.name)).toEqual([
      'Read',
      'Grep',
      'Glob',
      'Edit',
      'Write',
      'mcp__dancer__submit_outcome',
      'mcp__dancer__search_logs',
      'mcp__dancer__list_patterns',
      'mcp__dancer__get_pattern',
      'mcp__dancer__pattern_timeline',
      'mcp__dancer__get_request',
      'mcp__dancer__get_metrics',
      'mcp__dancer__list_fixes',
      'mcp__dancer__get_fix',
    ]);
  });

  it('fails clearly on bad input', async () => {
    const missing = await dancer(['consult', '--pattern', '999', '--dry-run', '--db', ws.dbPath]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('DANCER_NOT_FOUND');
    const noWorktree = await dancer(['consult', '--pattern', '7', '--db', ws.dbPath]);
    expect(noWorktree.code).toBe(2);
    expect(noWorktree.stderr).toMatch(/--worktree/);
    const nothing = await dancer(['consult', '--db', ws.dbPath]);
    expect(nothing.code).toBe(2);
    const noBundle = await dancer(['consult', '--bundle', 'x', '--db', ws.dbPath]);
    expect(noBundle.code).toBe(2);
  });
});
