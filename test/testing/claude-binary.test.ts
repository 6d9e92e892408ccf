import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { query, type SDKMessage } from '@anthropic-ai/claude-agent-sdk';
import { describe, expect, it } from 'vitest';
import { agentEnv } from '../../src/consult/env.js';
import { startModelServer, toolResults, toolResultText } from '../../src/testing/index.js';

describe('scripted model server with the real Claude Code binary', () => {
  it('plays a Write turn after a 429 with retry-after, and records what the model saw', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'dancer-ms-cc-'));
    const work = path.join(root, 'work');
    const home = path.join(root, 'home');
    const tmp = path.join(root, 'tmp');
    for (const d of [work, home, tmp]) mkdirSync(d);
    const server = await startModelServer({
      recordFile: path.join(root, 'requests.jsonl'),
      scenario: {
        usage: { input_tokens: 1000, output_tokens: 20 },
        turns: [
          {
            fault: { status: 429, retryAfter: 1 },
            text: 'Creating it.',
            tools: [{ name: 'Write', input: { file_path: path.join(work, 'hello.txt'), content: 'hi\n' } }],
          },
          { when: { lastToolResultContains: 'File created successfully' }, text: 'done' },
        ],
      },
    });
    const messages: SDKMessage[] = [];
    try {
      const q = query({
        prompt: 'Create hello.txt',
        options: {
          cwd: work,
          model: 'claude-opus-5-5',
          tools: ['Write'],
          allowedTools: ['Write'],
          permissionMode: 'acceptEdits',
          settingSources: [],
          persistSession: false,
          maxTurns: 4,
          env: agentEnv({ home, tmpDir: tmp, apiKey: 'sk-test', baseUrl: server.url, maxRetries: 2 }),
        },
      });
      for await (const m of q) messages.push(m);
    } finally {
      await server.close();
    }
    expect(readFileSync(path.join(work, 'hello.txt'), 'utf8')).toBe('hi\n');
    const result = messages.find((m) => m.type === 'result');
    expect(result).toMatchObject({ subtype: 'success', is_error: false, result: 'done' });
    expect(messages.some((m) => m.type === 'system' && m.subtype === 'api_retry')).toBe(true);

    const main = server.mainLoopRequests();
    // 429, then turn 0, then turn 1: no silent fallback to non-streaming, nothing unexpected.
    expect(main.map((r) => r.answer.kind)).toEqual(['fault', 'turn', 'turn']);
    expect(main.every((r) => r.body?.stream === true)).toBe(true);
    expect(server.surprises()).toEqual([]);
    const last = main[2]?.body;
    const results = last ? toolResults(last) : [];
    const issued = main[1]?.answer.kind === 'turn' ? main[1].answer.toolUseIds : [];
    expect(results.map((r) => r.tool_use_id)).toEqual(issued);
    expect(toolResultText(results[0]!)).toContain('File created successfully');
    expect(main[0]?.headers['x-api-key']).toBe('[redacted]');
    expect(existsSync(path.join(root, 'requests.jsonl'))).toBe(true);
  }, 60_000);
});
