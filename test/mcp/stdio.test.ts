/**
 * `dancer mcp` as a real child process over stdio (needs `npm run build`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConsultation, insertConsultation } from '../../src/consult/store.js';
import { insertLogs, makeWorkspace, paymentRows, type Workspace } from '../consult/helpers.js';

const BIN = path.resolve('bin/dancer.js');
const AT = Date.UTC(2026, 10, 25, 12, 0, 0);
let ws: Workspace;

beforeAll(() => {
  ws = makeWorkspace('dancer-mcp-');
  const rows = paymentRows(AT, 30);
  rows[0] = {
    ...rows[0]!,
    message: 'charge failed for order 1000: coupon missing token=ghp_1234567890abcdefghijABCDEFGHIJ123456',
  };
  insertLogs(ws.db, rows);
});
afterAll(() => ws?.db.close());

describe('dancer mcp (stdio child)', () => {
  it('answers initialize, tools/list and tools/call with newline-delimited JSON-RPC, and exits when stdin ends', async () => {
    const child = spawn(process.execPath, [BIN, 'mcp', '--db', ws.dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const send = (msg: object) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...msg })}\n`);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    // Wait for the answer line with this id; fail at once if the child dies.
    const waitFor = async (id: number) => {
      for (;;) {
        const answer = stdout
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as { id?: number; result?: Record<string, unknown>; error?: unknown })
          .find((m) => m.id === id);
        if (answer) return answer;
        if (exited) throw new Error(`dancer mcp exited before answering ${id}; stderr: ${stderr}`);
        await Promise.race([once(child.stdout, 'data'), once(child, 'exit')]);
      }
    };
    send({
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
    });
    const init = await waitFor(0);
    expect(init.result).toMatchObject({
      protocolVersion: '2025-11-25',
      serverInfo: { name: 'dancer' },
      capabilities: { tools: {} },
    });
    send({ method: 'notifications/initialized' });
    send({ id: 1, method: 'tools/list' });
    const list = (await waitFor(1)).result as {
      tools: Array<{ name: string; inputSchema: { type: string }; annotations?: { readOnlyHint?: boolean } }>;
    };
    expect(list.tools.map((t) => t.name)).toEqual([
      'search_logs',
      'list_patterns',
      'get_pattern',
      'pattern_timeline',
      'get_request',
      'get_metrics',
      'list_fixes',
      'get_fix',
    ]);
    expect(list.tools.every((t) => t.inputSchema.type === 'object' && t.annotations?.readOnlyHint === true)).toBe(true);
    send({
      id: 2,
      method: 'tools/call',
      params: { name: 'search_logs', arguments: { query: 'coupon', template_id: 7, limit: 50 } },
    });
    const call = (await waitFor(2)).result as {
      content: Array<{ text: string }>;
      structuredContent: { items: unknown[] };
      isError?: boolean;
    };
    expect(call.isError).toBeUndefined();
    expect(call.structuredContent.items).toHaveLength(30);
    expect(call.content[0]?.text).toContain('[REDACTED:');
    expect(call.content[0]?.text).not.toContain('ghp_1234567890');
    send({ id: 3, method: 'tools/call', params: { name: 'search_logs', arguments: { query: 'AND OR (' } } });
    const bad = (await waitFor(3)).result as { content: Array<{ text: string }>; isError: boolean };
    expect(bad.isError).toBe(true);
    expect(bad.content[0]?.text).toMatch(/DANCER_QUERY_INVALID.*FTS5 syntax/s);
    child.stdin.end();
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    // stdout carried nothing but JSON-RPC messages.
    for (const line of stdout.split('\n').filter(Boolean)) expect(JSON.parse(line)).toMatchObject({ jsonrpc: '2.0' });
    expect(stderr).toContain('dancer mcp: serving 8 tools');
  }, 30_000);

  it('records a manual consultation outcome through submit_outcome (SDK client)', async () => {
    const id = insertConsultation(ws.db, {
      createdAt: AT,
      templateId: 7,
      urgent: false,
      mode: 'manual',
      status: 'manual',
      brief: 'b',
    });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--db', ws.dbPath, '--consultation', String(id)],
      stderr: 'pipe',
    });
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(transport);
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('submit_outcome');
      const rejected = await client.callTool({ name: 'submit_outcome', arguments: { kind: 'escalate', why: 'x' } });
      expect(rejected.isError).toBe(true);
      const ok = await client.callTool({
        name: 'submit_outcome',
        arguments: { kind: 'escalate', why: 'Needs payments', where: 'src/payment.js' },
      });
      expect(ok.isError).toBeFalsy();
      const pattern = await client.callTool({ name: 'get_pattern', arguments: { id: 7, examples: 2 } });
      expect((pattern.structuredContent as { examples: unknown[] }).examples).toHaveLength(2);
    } finally {
      await client.close();
    }
    expect(getConsultation(ws.db, id)).toMatchObject({
      status: 'succeeded',
      outcome: { kind: 'escalate', where: 'src/payment.js' },
    });
  }, 30_000);
});
