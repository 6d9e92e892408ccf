import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedactor } from '../../src/consult/redact.js';
import { MAX_TOOL_CHARS, runStoreTool, STORE_TOOLS, type ToolContext } from '../../src/consult/tools/definitions.js';
import { consultReads } from '../../src/heal/consult-reads.js';
import { migration001Logs } from '../../src/store/migrations/001-logs.js';
import { openStore } from '../../src/store/open.js';
import { insertLogs, makeWorkspace, paymentRows, type Workspace } from './helpers.js';

const AT = Date.UTC(2026, 10, 25, 12, 0, 0);
let ws: Workspace;
let ctx: ToolContext;
const tool = (name: string) => STORE_TOOLS.find((t) => t.name === name)!;
const call = (name: string, args: unknown, c: ToolContext = ctx) => runStoreTool(tool(name), c, args);

beforeAll(() => {
  ws = makeWorkspace('dancer-tools-');
  const rows = paymentRows(AT, 100).map((r) => ({
    ...r,
    message: `${r.message} ${'detail '.repeat(20)}`,
    extra: { cart: { items: 3 } },
  }));
  insertLogs(ws.db, rows);
  ctx = { db: ws.db, redactor: createRedactor(), now: () => AT, reads: consultReads() };
});
afterAll(() => ws?.db.close());

describe('store tools', () => {
  it('limits output size and says how to narrow the query', () => {
    const r = call('search_logs', { template_id: 7, limit: 100 });
    expect(r.isError).toBe(false);
    expect(r.text.length).toBeLessThanOrEqual(MAX_TOOL_CHARS);
    expect(String(r.data.truncated)).toMatch(/showing \d+ of 100 items.*narrow the query/);
  });

  it('filters by time, level and request; reads relative times against the clock', () => {
    const recent = call('search_logs', { since: '10m', limit: 100 });
    expect(recent.data.returned).toBe(20);
    const byRequest = call('get_request', { request_id: 'req-3' });
    expect((byRequest.data.items as Array<{ req: string }>).map((i) => i.req)).toEqual(['req-3']);
    const timeline = call('pattern_timeline', { id: 7, since: '2h', bucket_minutes: 30 });
    expect(timeline.data.total).toBe(100);
    expect((timeline.data.items as unknown[]).length).toBe(4);
  });

  it('rejects bad arguments with a message the agent can act on', () => {
    expect(call('search_logs', { limit: 1000 })).toMatchObject({ isError: true });
    expect(call('search_logs', { nope: 1 }).text).toMatch(/Invalid arguments/);
    expect(call('search_logs', { since: 'yesterday-ish' }).text).toMatch(/DANCER_TIME_INVALID/);
    expect(call('get_pattern', { id: 12345 }).text).toMatch(/DANCER_NOT_FOUND.*list_patterns/);
    expect(call('pattern_timeline', { id: 7, since: '30d', bucket_minutes: 1 }).text).toMatch(/at most 500 buckets/);
  });

  it('without the reads of fixes and metrics (stages above consult), says so instead of reading their tables', () => {
    const c = { ...ctx, reads: undefined };
    for (const [name, args] of [
      ['list_fixes', {}],
      ['get_fix', { id: 1 }],
      ['get_metrics', {}],
    ] as const) {
      const r = call(name, args, c);
      expect(r.isError).toBe(false);
      expect(r.data).toMatchObject({ items: [] });
      expect(String(r.data.note)).toMatch(/available/);
    }
    // The same store with the reads answers from the fixes stage (no such note).
    expect(String(call('list_fixes', {}).data.note ?? '')).not.toMatch(/available/);
  });

  it('answers with an empty result and a note when a table does not exist yet', () => {
    const bare = openStore(path.join(ws.root, 'bare.db'), { migrations: [migration001Logs] });
    insertLogs(bare, paymentRows(AT, 5));
    const c = { ...ctx, db: bare };
    try {
      for (const name of ['list_fixes', 'get_metrics']) {
        const r = call(name, name === 'get_fix' ? { id: 1 } : {}, c);
        expect(r.isError).toBe(false);
        expect(r.data).toMatchObject({ items: [] });
        expect(String(r.data.note)).toMatch(/does not exist/);
      }
      const patterns = call('list_patterns', {}, c);
      expect(patterns.data.items).toEqual([expect.objectContaining({ id: 7, count: 5, level: 'error' })]);
      expect(call('get_fix', { id: 1 }, c).data.note).toMatch(/does not exist/);
    } finally {
      bare.close();
    }
  });

  it('get_fix shows the fix, its history, gate results and the diff from its worktree', () => {
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: ws.worktree,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@t',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@t',
        },
      })
        .toString()
        .trim();
    const base = git('rev-parse', 'HEAD');
    writeFileSync(path.join(ws.worktree, 'src/payment.js'), 'export const fixed = true;\n');
    git('commit', '-qam', 'fix');
    const head = git('rev-parse', 'HEAD');
    ws.db
      .prepare(
        `INSERT INTO fixes (id, pattern_id, pattern_hash, state, worktree, base_commit, head_commit, summary, reason, created_at, updated_at)
         VALUES (1, '7', 'abcd', 'rolled_back', ?, ?, ?, 'guard coupon', 'error rate +80% after deploy', ?, ?)`,
      )
      .run(ws.worktree, base, head, AT, AT);
    ws.db
      .prepare(
        "INSERT INTO fix_events (fix_id, ts, from_state, to_state, event, actor, reason) VALUES (1, ?, 'observing', 'rolled_back', 'rollback', 'timer', 'error rate +80%')",
      )
      .run(AT);
    ws.db
      .prepare(
        "INSERT INTO gate_steps (fix_id, round, seq, name, command, ok, duration_ms, output_tail, started_at) VALUES (1, 0, 1, 'test', 'npm test', 1, 5, 'ok 3 tests password=hunter2', ?)",
      )
      .run(AT);
    const list = call('list_fixes', { pattern_id: 7 });
    expect(list.data.items).toEqual([
      expect.objectContaining({ id: 1, state: 'rolled_back', reason: 'error rate +80% after deploy' }),
    ]);
    const fix = call('get_fix', { id: 1 });
    expect(fix.isError).toBe(false);
    expect(fix.data.diff).toContain('+export const fixed = true;');
    expect(fix.data.diff).not.toContain('AKIAZZCANARY0SOURCE1');
    expect(JSON.stringify(fix.data.gate)).toContain('password=[REDACTED:secret]');
    expect(fix.data.events).toEqual([expect.objectContaining({ to_state: 'rolled_back', reason: 'error rate +80%' })]);
  });
});
