/**
 * The scripted model server: a loopback implementation of the Anthropic Messages API that the
 * real Claude Code binary talks to through `ANTHROPIC_BASE_URL`. It plays back scripted turns
 * (see {@link Scenario}), records every request (headers redacted) in memory and to JSONL, and
 * misbehaves on demand (error statuses, slow streams, streams cut mid-way).
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import {
  type MessagesRequestBody,
  parseScenario,
  type Scenario,
  type ScenarioInput,
  type ScriptedTurn,
  selectTurn,
  substituteCwd,
  type TurnUsage,
  turnBlocks,
  workingDirectory,
} from './scenario.js';
import { encodeSse, errorBody, errorTypeFor, jsonMessage, type ReplySpec, sseEvents } from './sse.js';

/** What the server answered to one request. */
export type RecordedAnswer =
  | { kind: 'turn'; k: number; alternative: number; stream: boolean; toolUseIds: string[]; messageId: string }
  | { kind: 'fault'; k: number; status: number }
  | { kind: 'cut'; k: number; afterEvents: number }
  | { kind: 'exhausted'; k: number }
  | { kind: 'no-match'; k: number }
  | { kind: 'aux' }
  | { kind: 'count_tokens'; inputTokens: number }
  | { kind: 'unknown-path' }
  | { kind: 'bad-request'; error: string }
  | { kind: 'connect' };

/** One recorded request. */
export interface RecordedRequest {
  seq: number;
  /** ms since the epoch. */
  ts: number;
  method: string;
  path: string;
  /** Request headers; `x-api-key`, `authorization`, `cookie` and proxy credentials replaced by `[redacted]`. */
  headers: Record<string, string>;
  /** Value of `x-claude-code-agent-id` (subagent requests only). */
  agentId?: string;
  /** Parsed JSON body (undefined when there was none or it was not JSON). */
  body?: MessagesRequestBody;
  /** The raw body text, as received. */
  rawBody?: string;
  answer: RecordedAnswer;
}

/** Options for {@link startModelServer}. */
export interface ModelServerOptions {
  /** The script: a parsed scenario or its plain-object form. */
  scenario: Scenario | ScenarioInput;
  /** Append every request as one JSON line here (the folder is created). */
  recordFile?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Characters per text / JSON delta. Default 64. */
  chunkSize?: number;
  /** Called with every request as it is recorded (before the answer is sent). */
  onRequest?: (request: RecordedRequest) => void;
}

/** A running scripted model server. Always {@link ModelServer.close} it. */
export interface ModelServer {
  /** Base URL for `ANTHROPIC_BASE_URL`: `http://127.0.0.1:<port>` (no `/v1`). */
  url: string;
  port: number;
  /** Every request so far, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  /** Main-loop `/v1/messages` requests only (no subagent, aux, count_tokens or unknown ones). */
  mainLoopRequests(): RecordedRequest[];
  /** Requests answered `exhausted`, `no-match`, `unknown-path` or `bad-request`: a test usually wants none. */
  surprises(): RecordedRequest[];
  /** Replace the script (subsequent requests use it; fault counters reset). */
  setScenario(scenario: Scenario | ScenarioInput): void;
  /** The JSONL file, when recording to one. */
  recordFile: string | undefined;
  /** Stop listening and drop every open connection. */
  close(): Promise<void>;
}

const REDACTED_HEADERS = new Set(['x-api-key', 'authorization', 'proxy-authorization', 'cookie']);
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Text of the reply sent when the script has no turn left (the request is recorded as `exhausted`). */
export const EXHAUSTED_TEXT = '[scripted model: no more turns]';
/** Text of the reply sent when no alternative matched (recorded as `no-match`). */
export const NO_MATCH_TEXT = '[scripted model: no scripted turn matched this request]';

const DEFAULT_USAGE: TurnUsage = {
  input_tokens: 1000,
  output_tokens: 50,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};

function toScenario(input: Scenario | ScenarioInput): Scenario {
  return parseScenario(input);
}

function randomId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

function redactHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = REDACTED_HEADERS.has(name) ? '[redacted]' : Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function decodeBody(buffer: Buffer, encoding: string | undefined): string {
  if (encoding === 'gzip') return gunzipSync(buffer).toString('utf8');
  if (encoding === 'deflate') return inflateSync(buffer).toString('utf8');
  return buffer.toString('utf8');
}

/** Rough token estimate for count_tokens: 1 token per 4 characters of the JSON body. */
function estimateTokens(raw: string): number {
  return Math.ceil(raw.length / 4);
}

/**
 * Start a scripted model server on loopback.
 *
 * Turn selection: a main-loop request with k `assistant` messages in its history gets
 * `turns[k]`, so Claude Code's retries, its non-streaming fallback and interleaved side requests
 * never shift the script. Subagent requests (header `x-claude-code-agent-id`) use
 * `subagentTurns`. Requests with `tools: []` and an `output_config.format` (session titles) get
 * an `aux` JSON answer.
 */
export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  let scenario = toScenario(options.scenario);
  const requests: RecordedRequest[] = [];
  const attempts = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const chunkSize = options.chunkSize ?? 64;
  const recordFile = options.recordFile;
  if (recordFile) mkdirSync(path.dirname(recordFile), { recursive: true });
  let seq = 0;

  const record = (entry: Omit<RecordedRequest, 'seq' | 'ts'>): RecordedRequest => {
    const full: RecordedRequest = { seq: ++seq, ts: Date.now(), ...entry };
    requests.push(full);
    if (recordFile) appendFileSync(recordFile, `${JSON.stringify(full)}\n`);
    options.onRequest?.(full);
    return full;
  };

  const bump = (key: string): number => {
    const n = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, n);
    return n;
  };

  const sendJson = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'request-id': randomId('req_'),
      ...headers,
    });
    res.end(text);
  };

  const wait = (ms: number, res: http.ServerResponse) =>
    new Promise<void>((resolve) => {
      if (ms <= 0 || res.destroyed) return resolve();
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
      res.once('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
        resolve();
      });
    });

  const reply = async (
    res: http.ServerResponse,
    body: MessagesRequestBody,
    turn: ScriptedTurn,
    k: number,
    alternative: number,
    base: Omit<RecordedRequest, 'seq' | 'ts' | 'answer'>,
    thread: string,
  ): Promise<void> => {
    const key = `${thread}:${k}:${alternative}`;
    const attempt = bump(key);
    if (turn.fault && attempt <= turn.fault.times) {
      record({ ...base, answer: { kind: 'fault', k, status: turn.fault.status } });
      const headers: Record<string, string> = {};
      if (turn.fault.retryAfter !== undefined) headers['retry-after'] = String(turn.fault.retryAfter);
      const status = turn.fault.status;
      sendJson(res, status, errorBody(errorTypeFor(status), turn.fault.message ?? `scripted ${status}`), headers);
      return;
    }
    const faultAttempts = turn.fault ? turn.fault.times : 0;
    const streamAttempt = attempt - faultAttempts;
    const blocks = substituteCwd(
      turnBlocks(turn, () => randomId('toolu_')),
      workingDirectory(body),
    );
    const hasTool = blocks.some((b) => b.type === 'tool_use');
    const spec: ReplySpec = {
      id: randomId('msg_'),
      model: scenario.model ?? body.model ?? 'scripted-model',
      blocks,
      stopReason: turn.stopReason ?? (hasTool ? 'tool_use' : 'end_turn'),
      usage: { ...DEFAULT_USAGE, ...scenario.usage, ...turn.usage },
    };
    const toolUseIds = blocks.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []));
    if (body.stream !== true) {
      record({ ...base, answer: { kind: 'turn', k, alternative, stream: false, toolUseIds, messageId: spec.id } });
      sendJson(res, 200, jsonMessage(spec));
      return;
    }
    const events = sseEvents(spec, chunkSize);
    const cut = turn.cutAfterEvents !== undefined && streamAttempt <= turn.cutTimes ? turn.cutAfterEvents : undefined;
    record({
      ...base,
      answer:
        cut !== undefined
          ? { kind: 'cut', k, afterEvents: cut }
          : { kind: 'turn', k, alternative, stream: true, toolUseIds, messageId: spec.id },
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'request-id': randomId('req_'),
    });
    res.flushHeaders();
    let sent = 0;
    for (const event of events) {
      if (res.destroyed) return;
      if (cut !== undefined && sent >= cut) {
        // Let what was written reach the client, then drop the connection without ending the body.
        const socket = res.socket;
        if (socket) socket.write('', () => socket.destroy());
        return;
      }
      res.write(encodeSse(event));
      sent++;
      if (turn.delayMs) await wait(turn.delayMs, res);
    }
    res.end();
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const headers = redactHeaders(req.headers);
    const agentHeader = req.headers['x-claude-code-agent-id'];
    const agentId = typeof agentHeader === 'string' ? agentHeader : undefined;
    const base: Omit<RecordedRequest, 'seq' | 'ts' | 'answer'> = {
      method: req.method ?? 'GET',
      path: url.pathname,
      headers,
      ...(agentId ? { agentId } : {}),
      ...(raw ? { rawBody: raw } : {}),
    };
    const known =
      req.method === 'POST' && (url.pathname === '/v1/messages' || url.pathname === '/v1/messages/count_tokens');
    if (!known) {
      record({ ...base, answer: { kind: 'unknown-path' } });
      sendJson(res, 404, errorBody('not_found_error', `scripted model server: no route ${req.method} ${url.pathname}`));
      return;
    }
    let body: MessagesRequestBody;
    try {
      body = JSON.parse(raw) as MessagesRequestBody;
      if (typeof body !== 'object' || body === null) throw new Error('body is not a JSON object');
    } catch (error) {
      record({ ...base, answer: { kind: 'bad-request', error: (error as Error).message } });
      sendJson(res, 400, errorBody('invalid_request_error', `invalid JSON: ${(error as Error).message}`));
      return;
    }
    base.body = body;
    if (url.pathname === '/v1/messages/count_tokens') {
      const inputTokens = estimateTokens(raw);
      record({ ...base, answer: { kind: 'count_tokens', inputTokens } });
      sendJson(res, 200, { input_tokens: inputTokens });
      return;
    }
    const tools = Array.isArray(body.tools) ? body.tools : [];
    if (tools.length === 0 && body.output_config?.format !== undefined) {
      record({ ...base, answer: { kind: 'aux' } });
      const aux: ReplySpec = {
        id: randomId('msg_'),
        model: body.model ?? 'scripted-model',
        blocks: [{ type: 'text', text: JSON.stringify({ title: 'Scripted session' }) }],
        stopReason: 'end_turn',
        usage: { ...DEFAULT_USAGE, input_tokens: 10, output_tokens: 5 },
      };
      if (body.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const event of sseEvents(aux, chunkSize)) res.write(encodeSse(event));
        res.end();
      } else {
        sendJson(res, 200, jsonMessage(aux));
      }
      return;
    }
    const thread = agentId ? `agent:${agentId}` : 'main';
    const turns = agentId ? scenario.subagentTurns : scenario.turns;
    const choice = selectTurn(turns, body, raw);
    if (choice.kind !== 'turn') {
      const text = choice.kind === 'exhausted' ? EXHAUSTED_TEXT : NO_MATCH_TEXT;
      // A 4xx/5xx here would trigger Claude Code's retries; a final text turn ends the run at once.
      const fallback: ScriptedTurn = { text, cutTimes: 1 };
      const k = choice.k;
      record({ ...base, answer: { kind: choice.kind, k } });
      const spec: ReplySpec = {
        id: randomId('msg_'),
        model: scenario.model ?? body.model ?? 'scripted-model',
        blocks: turnBlocks(fallback, () => randomId('toolu_')),
        stopReason: 'end_turn',
        usage: { ...DEFAULT_USAGE, ...scenario.usage, output_tokens: 10 },
      };
      if (body.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const event of sseEvents(spec, chunkSize)) res.write(encodeSse(event));
        res.end();
      } else {
        sendJson(res, 200, jsonMessage(spec));
      }
      return;
    }
    await reply(res, body, choice.turn, choice.k, choice.alternative, base, thread);
  };

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        return;
      }
      parts.push(chunk);
    });
    req.on('error', () => {});
    res.on('error', () => {});
    req.on('end', () => {
      let raw: string;
      try {
        raw = decodeBody(Buffer.concat(parts), req.headers['content-encoding']);
      } catch (error) {
        raw = '';
        record({
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers: redactHeaders(req.headers),
          answer: { kind: 'bad-request', error: (error as Error).message },
        });
        sendJson(res, 400, errorBody('invalid_request_error', 'undecodable body'));
        return;
      }
      handle(req, res, raw).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, errorBody('api_error', String(error)));
        else res.destroy();
      });
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  server.on('connection', (socket) => socket.on('error', () => {}));
  // Used as HTTPS_PROXY, a CONNECT shows that something tried to leave the machine.
  server.on('connect', (req: http.IncomingMessage, socket) => {
    record({
      method: 'CONNECT',
      path: req.url ?? '',
      headers: redactHeaders(req.headers),
      answer: { kind: 'connect' },
    });
    socket.on('error', () => {});
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    requests,
    recordFile,
    mainLoopRequests: () =>
      requests.filter(
        (r) =>
          r.path === '/v1/messages' &&
          r.agentId === undefined &&
          r.answer.kind !== 'aux' &&
          r.answer.kind !== 'unknown-path' &&
          r.answer.kind !== 'bad-request',
      ),
    surprises: () =>
      requests.filter((r) => ['exhausted', 'no-match', 'unknown-path', 'bad-request'].includes(r.answer.kind)),
    setScenario(next) {
      scenario = toScenario(next);
      attempts.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Read a JSONL recording written by a model server. */
export function readRecording(file: string): RecordedRequest[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as RecordedRequest);
}
