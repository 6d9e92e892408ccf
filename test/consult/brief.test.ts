import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SourceMapGenerator } from 'source-map';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBrief, diverseSample, templateParams } from '../../src/consult/brief.js';
import { assembleBrief, type BriefSection } from '../../src/consult/brief-assemble.js';
import { createRedactor } from '../../src/consult/redact.js';
import { parseStack } from '../../src/consult/stack.js';
import { finishConsultation, insertConsultation } from '../../src/consult/store.js';
import { estimateTokens } from '../../src/consult/tokens.js';
import { consultReads } from '../../src/heal/consult-reads.js';
import { insertLogs, makeWorkspace, paymentRows, type Workspace } from './helpers.js';

const AT = Date.UTC(2026, 10, 25, 12, 0, 0);
const boundary = 'feedc0ffee12';
let ws: Workspace;

/** A compiled dist/payment.js whose source map points line 3 at src/payment.ts line 7. */
function writeCompiled(worktree: string): void {
  mkdirSync(path.join(worktree, 'dist'), { recursive: true });
  writeFileSync(
    path.join(worktree, 'src/payment.ts'),
    [
      '// payment',
      'type Order = { items: { price: number }[]; coupon?: { percent: number } };',
      '',
      'export function charge(order: Order): number {',
      '  const total = order.items.reduce((s, i) => s + i.price, 0);',
      '  // the bug:',
      '  return total * (1 - order.coupon!.percent / 100);',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(worktree, 'dist/payment.js'),
    'export function charge(order) {\n  const total = order.items.reduce((s, i) => s + i.price, 0);\n  return total * (1 - order.coupon.percent / 100);\n}\n//# sourceMappingURL=payment.js.map\n',
  );
  const gen = new SourceMapGenerator({ file: 'payment.js' });
  gen.addMapping({ generated: { line: 3, column: 2 }, original: { line: 7, column: 2 }, source: '../src/payment.ts' });
  gen.addMapping({ generated: { line: 1, column: 0 }, original: { line: 4, column: 0 }, source: '../src/payment.ts' });
  writeFileSync(path.join(worktree, 'dist/payment.js.map'), gen.toString());
}

const STACK = [
  "TypeError: Cannot read properties of undefined (reading 'percent')",
  '    at charge (file:///srv/svc/releases/42/dist/payment.js:3:35)',
  '    at Layer.handle (/srv/svc/releases/42/node_modules/express/lib/router/layer.js:95:5)',
  '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
].join('\n');

beforeAll(() => {
  ws = makeWorkspace('dancer-brief-');
  writeCompiled(ws.worktree);
  const rows = paymentRows(AT, 60).map((r) => ({ ...r, stack: STACK }));
  rows[5] = { ...rows[5]!, message: 'charge failed for order 1005: coupon missing password=Sup3rSecret!' };
  insertLogs(ws.db, rows);
  insertLogs(ws.db, [
    { ts: AT - 5 * 60_000 - 1, level: 30, message: 'POST /api/checkout received', requestId: 'req-0' },
    { ts: AT - 5 * 60_000 + 1, level: 30, message: 'loaded cart with 3 items', requestId: 'req-0' },
  ]);
  ws.db
    .prepare(
      `INSERT INTO templates (id, text, tokens, token_count, first_seen, last_seen, count, max_level, status)
       VALUES (7, 'charge failed for order <*>: coupon missing', '[]', 6, ?, ?, 60, 50, 'new')`,
    )
    .run(AT - 3_600_000, AT);
  const c = insertConsultation(ws.db, {
    createdAt: AT - 7_200_000,
    templateId: 7,
    urgent: false,
    mode: 'auto',
    status: 'running',
    brief: 'old',
  });
  finishConsultation(ws.db, c, {
    finishedAt: AT - 7_100_000,
    status: 'failed',
    outcome: null,
    error: 'No outcome: the agent ended without calling submit_outcome.',
  });
  const metric = ws.db.prepare(
    "INSERT INTO metrics (ts, service, scope, name, value) VALUES (?, 'svc', 'worker', ?, ?)",
  );
  for (let i = 0; i < 10; i++) {
    metric.run(AT - i * 60_000, 'cpu_percent', 20 + i);
    metric.run(AT - i * 60_000, 'rss_bytes', 100e6 + i * 1e6);
  }
});
afterAll(() => ws?.db.close());

function brief(maxTokens = 12_000) {
  return buildBrief({
    db: ws.db,
    trigger: {
      id: 't',
      kind: 'spike',
      templateId: 7,
      urgent: false,
      numbers: { factor: 4.2 },
      reason: 'rate 4.2x baseline',
      at: AT,
    },
    worktree: ws.worktree,
    policy: {
      protectedPaths: ['config/**'],
      maxFiles: 10,
      maxLines: 400,
      notes: ['A regression test must fail before the fix.'],
    },
    maxTokens,
    redactor: createRedactor(),
    boundary,
    toolNames: ['search_logs', 'get_pattern'],
    allowedCommands: ['npm test'],
    reads: consultReads(),
  });
}

describe('buildBrief', () => {
  it('holds the pattern, its distribution, counts, samples, requests, mapped frames, source, attempts, metrics and policy', async () => {
    const b = await brief();
    const t = b.text;
    expect(b.tokens).toBeLessThanOrEqual(12_000);
    expect(b.tokens).toBe(estimateTokens(t));
    expect(t).toContain('Trigger: spike at 2026-11-25T12:00:00Z: rate 4.2x baseline');
    expect(t).toContain(
      `<untrusted-data kind="pattern" boundary="${boundary}">\ncharge failed for order <*>: coupon missing`,
    );
    expect(t).toMatch(/route: "\/api\/orders\/:id\/pay" ×40 \(67%\), "\/api\/checkout" ×20 \(33%\)/);
    expect(t).toMatch(/host: "web-1" ×30 \(50%\), "web-2" ×30 \(50%\)/);
    expect(t).toMatch(/per hour, last 24 h .*11:00 60/);
    expect(t).toContain(`<untrusted-data kind="log" boundary="${boundary}">`);
    expect(t).toContain('loaded cart with 3 items');
    expect(t).toContain('src/payment.ts:7 in charge (mapped from payment.js:3)');
    expect(t).toContain('> 7 |   return total * (1 - order.coupon!.percent / 100);');
    expect(t).toContain('Source where the error originates: src/payment.ts');
    expect(t).toMatch(/consultation #\d+ .*failed: No outcome/);
    expect(t).toMatch(/cpu_percent: min 20, avg 24\.50, max 29/);
    expect(t).toContain('Protected paths (never change): config/**');
    expect(t).toContain('mcp__dancer__search_logs');
    expect(t).not.toContain('Sup3rSecret!');
    // Library frames are not resolved to source.
    expect(t).not.toMatch(/layer\.js:95 in/);
    // Sections come in the documented order.
    const order = [
      '## Consultation brief',
      '## The pattern',
      '## Counts over time',
      '## Representative records',
      '## Other records',
      '## Stack trace',
      '## Source where',
      '## Previous attempts',
      '## System metrics',
      '## Policy',
      '## Next',
    ];
    const positions = order.map((h) => t.indexOf(h));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('fits a small budget: required sections stay, fences stay closed, the rest is cut or left out', async () => {
    const b = await brief(900);
    expect(b.tokens).toBeLessThanOrEqual(900);
    expect(b.text).toContain('## Policy');
    expect(b.text).toContain('## Consultation brief');
    const opens = b.text.match(/<untrusted-data [^>]*>/g) ?? [];
    const closes = b.text.match(/<\/untrusted-data [^>]*>/g) ?? [];
    expect(opens.length).toBe(closes.length);
    expect(b.sections.some((s) => s.status === 'omitted' || s.status === 'truncated')).toBe(true);
    expect(b.sections.find((s) => s.id === 'pattern')?.status).toBe('included');
  });
});

describe('brief pieces', () => {
  it('assembles by priority and renders in order', () => {
    const sections: BriefSection[] = [
      { id: 'a', title: 'A', chunks: ['x'.repeat(400)], priority: 1 },
      {
        id: 'b',
        title: 'B',
        chunks: Array.from({ length: 50 }, (_, i) => `line ${i} ${'y'.repeat(40)}`),
        priority: 2,
        fence: { open: '<f>', close: '</f>' },
        moreHint: 'call t',
      },
      { id: 'p', title: 'P', chunks: ['policy'], priority: 9, required: true },
    ];
    const out = assembleBrief(sections, 400);
    expect(out.tokens).toBeLessThanOrEqual(400);
    expect(out.text.indexOf('## A')).toBeLessThan(out.text.indexOf('## B'));
    expect(out.text).toContain('</f>');
    expect(out.text).toMatch(/\(\d+ more left out to fit the budget; call t\)/);
    expect(out.sections.map((s) => s.status)).toEqual(['included', 'truncated', 'included']);
  });

  it('extracts template parameters and picks diverse samples', () => {
    expect(templateParams('user <*> failed after <*> ms', 'user bob failed after 12 ms')).toEqual(['bob', '12']);
    expect(templateParams('user <*> failed', 'something else')).toBeUndefined();
    const rows = paymentRows(AT, 30).map((r, i) => ({ ...r, id: i + 1, lastTs: r.ts, count: 1, level: 50 }));
    const picked = diverseSample(rows as never, 4, 'charge failed for order <*>: coupon missing');
    expect(picked).toHaveLength(4);
    expect(new Set(picked.map((r) => r.hostname)).size).toBe(2);
    expect(new Set(picked.map((r) => r.httpRoute)).size).toBe(2);
  });

  it('parses V8 and Python stacks', () => {
    expect(parseStack(STACK).map((f) => `${f.file}:${f.line}`)).toEqual([
      'file:///srv/svc/releases/42/dist/payment.js:3',
      '/srv/svc/releases/42/node_modules/express/lib/router/layer.js:95',
    ]);
    const py =
      'Traceback (most recent call last):\n  File "/app/main.py", line 10, in <module>\n  File "/app/pay.py", line 3, in charge\nKeyError: x';
    expect(parseStack(py).map((f) => `${f.file}:${f.line}`)).toEqual(['/app/pay.py:3', '/app/main.py:10']);
  });
});
