import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DancerError } from '../../src/errors.js';
import {
  EXHAUSTED_TEXT,
  type ModelServer,
  parseScenarioText,
  readRecording,
  type ScenarioInput,
  startModelServer,
} from '../../src/testing/index.js';

const servers: ModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(scenario: ScenarioInput, recordFile?: string): Promise<ModelServer> {
  const server = await startModelServer({ scenario, ...(recordFile ? { recordFile } : {}) });
  servers.push(server);
  return server;
}

function post(server: ModelServer, body: object, extraHeaders: Record<string, string> = {}, p = '/v1/messages') {
  return fetch(`${server.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-secret-key', ...extraHeaders },
    body: JSON.stringify(body),
  });
}

/** Parse an SSE body into [event, data] pairs, checking every event has an `event:` line. */
function parseSse(text: string): Array<{ event: string; data: Record<string, unknown> }> {
  return text
    .split('\n\n')
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => {
      const lines = chunk.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      if (!event || !data) throw new Error(`bad SSE chunk: ${chunk}`);
      const parsed = JSON.parse(data) as Record<string, unknown>;
      expect(parsed.type).toBe(event);
      return { event, data: parsed };
    });
}

const tools = [{ name: 'Write' }, { name: 'Read' }];

describe('scripted model server', () => {
  it('streams a tool-use turn as SSE with event lines and unique tool ids, and records it redacted', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'dancer-ms-')), 'rec', 'requests.jsonl');
    const server = await start(
      {
        turns: [
          {
            text: 'Creating it.',
            tools: [
              { name: 'Write', input: { file_path: 'a.txt', content: 'x'.repeat(200) } },
              { name: 'Read', input: { file_path: 'a.txt' } },
            ],
            usage: { input_tokens: 1234, output_tokens: 56 },
          },
        ],
      },
      file,
    );
    const res = await post(server, { model: 'm-1', stream: true, tools, messages: [{ role: 'user', content: 'go' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      ...Array(4).fill('content_block_delta'),
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const start0 = events[0]?.data.message as { model: string; usage: { input_tokens: number } };
    expect(start0.model).toBe('m-1');
    expect(start0.usage.input_tokens).toBe(1234);
    const delta = events.find((e) => e.event === 'message_delta')?.data as {
      delta: { stop_reason: string };
      usage: { output_tokens: number };
    };
    expect(delta.delta.stop_reason).toBe('tool_use');
    expect(delta.usage.output_tokens).toBe(56);
    const json = events
      .filter((e) => (e.data.delta as { type?: string } | undefined)?.type === 'input_json_delta' && e.data.index === 1)
      .map((e) => (e.data.delta as { partial_json: string }).partial_json)
      .join('');
    expect(JSON.parse(json)).toEqual({ file_path: 'a.txt', content: 'x'.repeat(200) });
    const ids = events
      .filter((e) => e.event === 'content_block_start')
      .map((e) => (e.data.content_block as { id?: string }).id)
      .filter(Boolean);
    expect(new Set(ids).size).toBe(2);

    const recorded = readRecording(file);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.headers['x-api-key']).toBe('[redacted]');
    expect(JSON.stringify(recorded)).not.toContain('sk-ant-secret-key');
    expect(recorded[0]?.answer).toMatchObject({ kind: 'turn', k: 0, stream: true, toolUseIds: ids });
  });

  it('chooses the turn by the number of assistant messages, ignoring system messages', async () => {
    const server = await start({ turns: [{ text: 'zero' }, { text: 'one' }, { text: 'two' }] });
    const body = {
      stream: false,
      tools,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'system', content: 'env info' },
        { role: 'assistant', content: [{ type: 'text', text: 'zero' }] },
        { role: 'user', content: 'more' },
        { role: 'system', content: 'more env' },
      ],
    };
    const first = (await (await post(server, body)).json()) as { content: Array<{ text: string }> };
    expect(first.content[0]?.text).toBe('one');
    // The same history again (a retry) gets the same turn: no counter drift.
    const again = (await (await post(server, body)).json()) as { content: Array<{ text: string }> };
    expect(again.content[0]?.text).toBe('one');
  });

  it('picks an alternative by a matcher on the last tool_result', async () => {
    const server = await start({
      turns: [
        { tools: [{ name: 'Bash', input: { command: 'rm -rf /' } }] },
        {
          oneOf: [
            {
              when: { lastToolResultContains: 'hook error', lastToolResultIsError: true },
              text: 'denied, as expected',
            },
            { text: 'it ran' },
          ],
        },
      ],
    });
    const history = (result: string, isError: boolean) => ({
      stream: false,
      tools,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', is_error: isError, content: result }] },
      ],
    });
    const denied = (await (await post(server, history('PreToolUse:Bash hook error: no', true))).json()) as {
      content: Array<{ text: string }>;
    };
    expect(denied.content[0]?.text).toBe('denied, as expected');
    const ran = (await (await post(server, history('ok', false))).json()) as { content: Array<{ text: string }> };
    expect(ran.content[0]?.text).toBe('it ran');
  });

  it('injects faults on the first attempts, then plays the turn', async () => {
    const server = await start({ turns: [{ text: 'ok', fault: { status: 429, retryAfter: 2, times: 2 } }] });
    const body = { stream: false, tools, messages: [{ role: 'user', content: 'go' }] };
    const r1 = await post(server, body);
    expect(r1.status).toBe(429);
    expect(r1.headers.get('retry-after')).toBe('2');
    expect(((await r1.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
    expect((await post(server, body)).status).toBe(429);
    expect((await post(server, body)).status).toBe(200);
    expect(server.requests.map((r) => r.answer.kind)).toEqual(['fault', 'fault', 'turn']);

    server.setScenario({ turns: [{ text: 'ok', fault: { status: 529 } }] });
    const r4 = await post(server, body);
    expect(r4.status).toBe(529);
    expect(((await r4.json()) as { error: { type: string } }).error.type).toBe('overloaded_error');
    server.setScenario({ turns: [{ text: 'ok', fault: { status: 500 } }] });
    expect((await post(server, body)).status).toBe(500);
  });

  it('cuts a stream mid-way on demand and streams slowly on demand', async () => {
    const server = await start({ turns: [{ text: 'a long answer '.repeat(20), cutAfterEvents: 3 }] });
    const body = { stream: true, tools, messages: [{ role: 'user', content: 'go' }] };
    const res = await post(server, body);
    await expect(res.text()).rejects.toThrow();
    expect(server.requests[0]?.answer).toEqual({ kind: 'cut', k: 0, afterEvents: 3 });
    const full = parseSse(await (await post(server, body)).text());
    expect(full.at(-1)?.event).toBe('message_stop');

    server.setScenario({ turns: [{ text: 'slow', delayMs: 40 }] });
    const started = Date.now();
    const events = parseSse(await (await post(server, body)).text());
    // Each event after the first waits 40 ms: the stream cannot finish sooner.
    expect(Date.now() - started).toBeGreaterThanOrEqual(40 * (events.length - 1));
  });

  it('answers count_tokens, 404s unknown paths, and ends an exhausted script with a text turn', async () => {
    const server = await start({ turns: [] });
    const count = await post(
      server,
      { messages: [{ role: 'user', content: 'hello world' }] },
      {},
      '/v1/messages/count_tokens',
    );
    expect(count.status).toBe(200);
    expect(((await count.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    const missing = await fetch(`${server.url}/v1/models`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { type: string } }).error.type).toBe('not_found_error');
    const done = (await (
      await post(server, { stream: false, tools, messages: [{ role: 'user', content: 'go' }] })
    ).json()) as { content: Array<{ text: string }>; stop_reason: string };
    expect(done.content[0]?.text).toBe(EXHAUSTED_TEXT);
    expect(done.stop_reason).toBe('end_turn');
    expect(server.surprises().map((r) => r.answer.kind)).toEqual(['unknown-path', 'exhausted']);
  });

  it('parses YAML scenarios and rejects bad ones with a clear error', () => {
    const scenario = parseScenarioText(
      'turns:\n  - text: hi\n    tools:\n      - name: mcp__dancer__submit_outcome\n        input: {kind: ignore, why: noise}\n',
    );
    expect(scenario.turns).toHaveLength(1);
    expect(() => parseScenarioText('turns:\n  - txet: hi\n', 'bad.yaml')).toThrowError(DancerError);
    expect(() => parseScenarioText('turns: [', 'broken.yaml')).toThrowError(/not valid YAML/);
  });

  it('replaces the cwd placeholder in scripted tool inputs with the working directory Claude Code states', async () => {
    const placeholder = ['$', '{cwd}'].join('');
    const server = await start({
      turns: [{ tools: [{ name: 'Read', input: { file_path: `${placeholder}/src/a.ts` } }] }],
    });
    const body = {
      stream: false,
      tools,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'system', content: 'Environment\n - Primary working directory: /tmp/wt-1\n - Platform: linux' },
      ],
    };
    const reply = (await (await post(server, body)).json()) as { content: Array<{ input: { file_path: string } }> };
    expect(reply.content[0]?.input.file_path).toBe('/tmp/wt-1/src/a.ts');
  });
});
