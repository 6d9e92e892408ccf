import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { finishConsultation, insertConsultation, insertLedger, transcriptWriter } from '../../src/consult/store.js';
import { applyEvent, createFix, type FixRecord, recordGateStep } from '../../src/fixes/records.js';
import { recordAudit } from '../../src/notify/audit.js';
import { type Db, openStore } from '../../src/store/open.js';

/** A secret that must never reach a browser, a terminal or a webhook. */
export const SECRET = 'sk-ant-api03-SECRETSECRETSECRET0123456789';

/** A temp dir with a store that holds one consultation (with a transcript) and one fix awaiting approval. */
export function seededStore(prefix = 'dancer-dash-'): {
  dir: string;
  file: string;
  db: Db;
  fix: FixRecord;
  cleanup(): void;
} {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const file = path.join(dir, 'dancer.db');
  const db = openStore(file);
  const t0 = Date.now() - 60_000;
  const cid = insertConsultation(db, {
    createdAt: t0,
    triggerKind: 'spike',
    templateId: 7,
    urgent: false,
    mode: 'auto',
    status: 'running',
    model: 'claude-test',
    brief: `Pattern 7 keeps failing; the log said token=${SECRET}`,
  });
  const write = transcriptWriter(db, cid, () => t0 + 1_000);
  write({ type: 'assistant', message: { content: [{ type: 'text', text: `I found the key ${SECRET} in the log.` }] } });
  write({
    type: 'assistant',
    message: { content: [{ type: 'tool_use', name: 'Edit', input: { file: 'src/cart.js' } }] },
  });
  write({ type: 'result', subtype: 'success', result: 'Guarded the empty cart.' });
  finishConsultation(db, cid, {
    status: 'succeeded',
    finishedAt: t0 + 5_000,
    outcome: { kind: 'fix', summary: 'Guard the empty cart' } as never,
  });
  insertLedger(db, {
    consultationId: cid,
    ts: t0 + 5_000,
    model: 'claude-test',
    inputTokens: 1200,
    outputTokens: 300,
    cacheReadTokens: 0,
    cacheCreationTokens: 0,
    costUsd: 0.0123,
    modelUsage: null,
    turns: 3,
    durationMs: 5_000,
    durationApiMs: null,
    outcome: 'fix',
  });
  const created = createFix(
    db,
    {
      patternId: '7',
      patternHash: 'abcdef12',
      patternText: 'cart total failed <*>',
      actor: 'detector',
      reason: 'spike',
    },
    t0,
  );
  applyEvent(
    db,
    created.id,
    {
      event: 'submit',
      actor: 'agent',
      reason: 'committed',
      fields: { summary: 'Guard the empty cart', consultationId: String(cid), costUsd: 0.0123 },
    },
    t0 + 6_000,
  );
  recordGateStep(db, {
    fixId: created.id,
    round: 0,
    seq: 0,
    name: 'test',
    command: 'npm test',
    ok: true,
    exitCode: 0,
    signal: null,
    timedOut: false,
    durationMs: 1234,
    outputTail: `ok 1 - cart\nDEBUG apiKey=${SECRET}\n`,
    note: null,
    startedAt: t0 + 6_500,
  });
  const fix = applyEvent(
    db,
    created.id,
    { event: 'pass', actor: 'gate', reason: 'gate passed', fields: { risk: 'low' } },
    t0 + 7_000,
  );
  recordAudit(db, { ts: t0 + 8_000, actor: 'cli:bob', source: 'cli', action: 'status', outcome: 'ok' });
  return {
    dir,
    file,
    db,
    fix,
    cleanup() {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A server-sent events client: collects events; `waitFor` resolves when one matches. */
export function openEvents(url: string): {
  events: Array<{ event: string; data: unknown }>;
  waitFor(
    pred: (e: { event: string; data: unknown }) => boolean,
    timeoutMs?: number,
  ): Promise<{ event: string; data: unknown }>;
  close(): void;
} {
  const controller = new AbortController();
  const events: Array<{ event: string; data: unknown }> = [];
  const waiters = new Set<() => void>();
  void (async () => {
    const res = await fetch(url, { signal: controller.signal });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: ?(.*)$/m.exec(block)?.[1];
        const data = /^data: ?(.*)$/m.exec(block)?.[1];
        if (event && data !== undefined) events.push({ event, data: JSON.parse(data) as unknown });
        cut = buffer.indexOf('\n\n');
      }
      for (const w of [...waiters]) w();
    }
  })().catch(() => undefined);
  return {
    events,
    waitFor(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find(pred);
          if (hit) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event; saw ${events.map((e) => e.event).join(', ')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => controller.abort(),
  };
}

/** Debian's chromium, headless (see .ci/run). */
export const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};
