/**
 * Every sink, one secret corpus: the lines of test/fixtures/secret-corpus.ts are planted in a real
 * store (written with `store.redactAtIngest` off, as an older store would hold them, and mined by
 * the real miner), then every way out is read and searched for each secret in clear: the brief,
 * every store tool, stored and served gate output, the manual bundle's PROMPT.md, `dancer logs
 * export` in each format (the built CLI), Zulip topics and messages (the real planner and outbox
 * table), and a store written with `store.redactAtIngest` on.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixesSchema } from '../../src/config/schema/fixes.js';
import { patternsSchema } from '../../src/config/schema/patterns.js';
import { buildBrief } from '../../src/consult/brief.js';
import { writeBundle } from '../../src/consult/bundle.js';
import { createRedactor } from '../../src/consult/redact.js';
import { runStoreTool, STORE_TOOLS } from '../../src/consult/tools/definitions.js';
import { createFix, recordGateStep } from '../../src/fixes/records.js';
import type { FixInfo } from '../../src/notify/events.js';
import { fixTopic } from '../../src/notify/zulip/format.js';
import { OutboxStore } from '../../src/notify/zulip/outbox.js';
import { planEventMessages } from '../../src/notify/zulip/plan.js';
import { createPatternsPipeline } from '../../src/patterns/index.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';
import type { LogRecord } from '../../src/store/records.js';
import { SECRET_CASES } from '../fixtures/secret-corpus.js';

const ALL_SECRETS = SECRET_CASES.flatMap((c) => c.secrets.map((s) => ({ id: c.id, secret: s })));

/** The secrets found in clear in `text` (by case id), for a readable failure. */
function leaks(text: string): string[] {
  return ALL_SECRETS.filter(({ secret }) => text.includes(secret)).map(({ id, secret }) => `${id}: ${secret}`);
}

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

/** Records that plant every secret in message, error, stack, route and extra fields, mined as patterns. */
function plantedRecords(): LogRecord[] {
  const out: LogRecord[] = [];
  let t = T0;
  const rec = (r: Partial<LogRecord> & { message: string }): LogRecord => {
    t += 1000;
    return { ts: t, level: 50, ...r };
  };
  for (const [i, c] of SECRET_CASES.entries()) {
    for (let k = 0; k < 3; k++) {
      out.push(rec({ message: c.line, requestId: `req-${i}`, hostname: 'web-1' }));
    }
    out.push(
      rec({
        message: `request failed ${i}`,
        errType: 'Error',
        errMessage: c.line,
        stack: `Error: ${c.line}\n    at handler (/srv/app/src/server.js:12:5)`,
        httpRoute: '/api/login',
        requestId: `req-${i}`,
        extra: { note: c.line, apiKey: c.secrets[0] },
      }),
    );
  }
  // The miner's worst cases: a value mined out of key=value, a card split into four, a masked Slack token.
  const secrets = ['hunter2Xy', 'tk_9f8e7d6c5b4a3210', 'Sup3rSecret!'];
  for (let k = 0; k < 12; k++) {
    out.push(rec({ message: `login failed for user u${k} password=${secrets[k % 3]} attempt=${k}` }));
    out.push(
      rec({ message: `charge declined card ${['4111 1111 1111 1111', '4012 8888 8888 1881'][k % 2]} order ${k}` }),
    );
    out.push(rec({ message: `slack post failed xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp channel c${k}` }));
    out.push(rec({ message: `request headers Cookie: sid=s%3AabcDEF123456.xyz; theme=dark user ${k}` }));
  }
  return out;
}

let root: string;
let dbPath: string;
let db: Db;
let templateIds: number[];

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'dancer-sinks-'));
  dbPath = path.join(root, 'dancer.db');
  db = openStore(dbPath);
  const pipeline = createPatternsPipeline(db, { patterns: patternsSchema.parse({}) });
  const writer = new LogWriter(db, { plugins: pipeline.plugins, redact: false });
  for (const r of plantedRecords()) writer.write(r);
  writer.flush();
  templateIds = (
    db.prepare('SELECT DISTINCT template_id AS id FROM logs WHERE template_id IS NOT NULL').all() as Array<{
      id: number;
    }>
  ).map((r) => r.id);
  // Gate output and fix reasons holding every secret (as a failing test printing its env would).
  const fix = createFix(
    db,
    {
      patternId: String(templateIds[0]),
      patternHash: 'h',
      patternText: 'login failed for user <*> password=<*> attempt=<*>',
      actor: 'supervisor',
      reason: SECRET_CASES[0]!.line,
    },
    T0,
  );
  recordGateStep(db, {
    fixId: fix.id,
    round: 0,
    seq: 0,
    name: 'test',
    command: 'npm test',
    ok: false,
    exitCode: 1,
    signal: null,
    timedOut: false,
    durationMs: 10,
    outputTail: SECRET_CASES.map((c) => c.line).join('\n'),
    note: null,
    startedAt: T0,
  });
});

afterAll(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

describe('every sink, the whole corpus', () => {
  it('the store holds the secrets in clear when redactAtIngest is off (the test plants what it checks)', () => {
    const text = JSON.stringify(db.prepare('SELECT message, err_message, stack, extra FROM logs').all());
    expect(leaks(text).length).toBe(ALL_SECRETS.length);
    expect(templateIds.length).toBeGreaterThan(4);
  });

  it('the brief, for every pattern', async () => {
    const redactor = createRedactor();
    for (const templateId of templateIds) {
      const brief = await buildBrief({
        db,
        trigger: {
          id: 't',
          kind: 'new_pattern',
          templateId,
          urgent: false,
          numbers: {},
          reason: 'new pattern',
          at: T0 + 3_600_000,
        },
        policy: { protectedPaths: [] },
        maxTokens: 50_000,
        redactor,
        boundary: 'b0a1c2d3e4f5a6b7',
      });
      expect(leaks(brief.text), `pattern ${templateId}`).toEqual([]);
    }
  });

  it('shows a mined parameter with its key, never bare', async () => {
    const id = (
      db.prepare("SELECT template_id AS id FROM logs WHERE message LIKE 'login failed for user%' LIMIT 1").get() as {
        id: number;
      }
    ).id;
    const brief = await buildBrief({
      db,
      trigger: {
        id: 't',
        kind: 'new_pattern',
        templateId: id,
        urgent: false,
        numbers: {},
        reason: 'r',
        at: T0 + 3_600_000,
      },
      policy: { protectedPaths: [] },
      maxTokens: 50_000,
      redactor: createRedactor(),
      boundary: 'b0a1c2d3e4f5a6b7',
    });
    expect(brief.text).toContain('password=[REDACTED:secret]');
    expect(brief.text).toMatch(/parameter 1 \(<\*> #1, after "[^"]*user "\)/);
  });

  it('every store tool', () => {
    const ctx = { db, redactor: createRedactor(), now: () => T0 + 3_600_000 };
    const calls: Array<[string, Record<string, unknown>]> = [
      ['search_logs', { limit: 100, with_stack: true, since: '7d' }],
      ['search_logs', { query: 'card', limit: 100, since: '7d' }],
      ['list_patterns', { since: '7d', limit: 100 }],
      ['list_fixes', {}],
      ['get_fix', { id: 1 }],
      ['get_metrics', {}],
      ...templateIds.flatMap(
        (id): Array<[string, Record<string, unknown>]> => [
          ['get_pattern', { id, examples: 20 }],
          ['pattern_timeline', { id, since: '7d' }],
        ],
      ),
      ...SECRET_CASES.map((_c, i): [string, Record<string, unknown>] => ['get_request', { request_id: `req-${i}` }]),
    ];
    for (const [name, args] of calls) {
      const tool = STORE_TOOLS.find((t) => t.name === name);
      if (!tool) throw new Error(name);
      const result = runStoreTool(tool, ctx, args, 1_000_000);
      expect(result.isError, `${name} ${result.text.slice(0, 200)}`).toBe(false);
      expect(leaks(result.text), `${name} ${JSON.stringify(args)}`).toEqual([]);
    }
  });

  it('gate output and reasons, as stored and as served by get_fix', () => {
    const stored = JSON.stringify(db.prepare('SELECT output_tail, note FROM gate_steps').all());
    expect(stored).toContain('[REDACTED:');
    expect(leaks(stored)).toEqual([]);
    expect(leaks(JSON.stringify(db.prepare('SELECT reason, pattern_text FROM fixes').all()))).toEqual([]);
    expect(leaks(JSON.stringify(db.prepare('SELECT reason FROM fix_events').all()))).toEqual([]);
  });

  it("the manual bundle's PROMPT.md", () => {
    const bundle = writeBundle({
      dir: path.join(root, 'bundles'),
      consultationId: 7,
      brief: SECRET_CASES.map((c) => c.line).join('\n'),
      systemPrompt: 'rules',
      worktree: root,
      dbPath,
      model: 'claude-sonnet-4-5',
      maxTurns: 5,
      maxBudgetUsd: 1,
      allowedCommands: [],
      toolNames: [],
      reason: 'test',
      protectedPaths: [],
      sandbox: fixesSchema.parse({}).sandbox,
      hide: [],
    });
    expect(leaks(readFileSync(bundle.promptFile, 'utf8'))).toEqual([]);
  });

  it.each(['json', 'csv', 'claude'])('dancer logs export --format %s', (format) => {
    const bin = path.resolve('bin/dancer.js');
    const out = execFileSync(
      process.execPath,
      [bin, 'logs', 'export', '--db', dbPath, '--format', format, '--max-tokens', '200000'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    expect(out.length).toBeGreaterThan(1000);
    expect(leaks(out)).toEqual([]);
  });

  it('Zulip topics and messages, through the planner into the outbox table', () => {
    const outbox = new OutboxStore(db, () => T0);
    for (const c of SECRET_CASES) {
      const fix: FixInfo = {
        id: 40,
        state: 'awaiting_approval',
        pattern: { id: 3, summary: c.line },
        title: c.line,
        analysis: c.line,
        rootCause: c.line,
        diff: `--- a/x\n+++ b/x\n@@ -1 +1 @@\n-${c.line}\n+fixed`,
        gates: [{ name: 'test', ok: false, detail: c.line }],
        reason: c.line,
      };
      expect(leaks(fixTopic(fix)), c.id).toEqual([]);
      const ctx = { botName: 'Dancer', maxLength: 10_000, emoji: { approve: 'check', reject: 'cross_mark' } };
      for (const event of [
        { type: 'fix_proposed' as const, at: T0, fix },
        { type: 'approval_requested' as const, at: T0, fix },
        { type: 'failure' as const, at: T0, component: 'gate', message: c.line, fixId: 40 },
      ]) {
        for (const m of planEventMessages(
          event,
          ctx,
          { stream: 'dancer', statusTopic: 'status' },
          { hasHead: false, hasApproval: false },
        )) {
          outbox.enqueue(m);
        }
      }
    }
    const rows = JSON.stringify(db.prepare('SELECT topic, content FROM outbox').all());
    expect(rows).toContain('[REDACTED:');
    expect(leaks(rows)).toEqual([]);
  });
});

describe('store.redactAtIngest', () => {
  it('stores no secret in clear, in the rows or the full-text index, and records the length', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-ingest-redact-'));
    const store = openStore(path.join(dir, 'dancer.db'));
    try {
      const pipeline = createPatternsPipeline(store, { patterns: patternsSchema.parse({}) });
      const writer = new LogWriter(store, { plugins: pipeline.plugins });
      for (const r of plantedRecords()) writer.write(r);
      writer.flush();
      const rows = JSON.stringify(
        store.prepare('SELECT message, err_message, stack, http_route, extra FROM logs').all(),
      );
      expect(leaks(rows)).toEqual([]);
      expect(rows).toContain('password=[REDACTED:secret 9 chars]');
      const templates = JSON.stringify(store.prepare('SELECT * FROM templates').all());
      expect(leaks(templates)).toEqual([]);
      const fts = JSON.stringify(store.prepare('SELECT message, err, stack FROM logs_fts').all());
      expect(leaks(fts)).toEqual([]);
      // The FTS index holds the placeholders, not the secrets: a search for a secret finds nothing.
      expect(store.prepare('SELECT COUNT(*) AS n FROM logs_fts WHERE logs_fts MATCH \'"hunter2Xy"\'').get()).toEqual({
        n: 0,
      });
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
