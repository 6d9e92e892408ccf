/**
 * The wire of the Zulip test server: version constants, the error a handler throws (turned into
 * Zulip's `{result:"error", msg, code}` body), parameter reading and parsing, JSON responses and
 * the shape of a route table.
 */
import type http from 'node:http';
import type { ZulipTestUser } from './types.js';

/** `zulip_feature_level` the server advertises. */
export const FEATURE_LEVEL = 321;
/** `zulip_version` the server advertises. */
export const ZULIP_VERSION = '10.0-dev-2137-gc4c1edfa6e';
/** `zulip_merge_base` the server advertises. */
export const MERGE_BASE = '10.0-dev-2137-gc4c1edfa6e';
/** A Zulip API key: 32 alphanumerics. */
export const API_KEY_RE = /^[A-Za-z0-9]{32}$/;

/** An error response the handlers throw; turned into `{result:"error", msg, code, ...extra}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    msg: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(msg);
  }
}

/** 400 `BAD_REQUEST` with `msg`. */
export const badRequest = (msg: string, extra?: Record<string, unknown>) =>
  new ApiError(400, 'BAD_REQUEST', msg, extra);
/** 400 `REQUEST_VARIABLE_MISSING` for parameter `name`. */
export const missing = (name: string) =>
  new ApiError(400, 'REQUEST_VARIABLE_MISSING', `Missing '${name}' argument`, { var_name: name });

/** A request as the server records it (`user` once authentication succeeded). */
export interface RequestCtx {
  method: string;
  path: string;
  params: Record<string, string>;
  user?: ZulipTestUser;
}

/** An authenticated request, as a route handler gets it. */
export interface Ctx {
  method: string;
  path: string;
  params: Record<string, string>;
  user: ZulipTestUser;
}

/**
 * A route handler: returns the success body's fields, or null when it holds the request and
 * answers later itself (long-poll).
 */
export type Handler = (
  ctx: Ctx,
  res: http.ServerResponse,
  headers: Record<string, string>,
) => Record<string, unknown> | null;

/** One path of the API: its methods, each with the parameters it knows and its handler. */
export interface Route {
  pattern: RegExp;
  methods: Record<string, { known: string[]; handle: Handler }>;
}

/** Record a request and the response sent for it. */
export type RecordFn = (ctx: RequestCtx, status: number, response: Record<string, unknown>) => void;

/** Parse the JSON-encoded parameter `name` (undefined when absent). */
export function parseJsonParam(params: Record<string, string>, name: string): unknown {
  const raw = params[name];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ApiError(400, 'BAD_REQUEST', `${name} is not valid JSON`, {});
  }
}

/** Parse the JSON boolean parameter `name`, or `fallback` when absent. */
export function parseBoolParam(params: Record<string, string>, name: string, fallback: boolean): boolean {
  const value = parseJsonParam(params, name);
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ApiError(400, 'BAD_REQUEST', `${name} is not a boolean`);
  return value;
}

/** Parse the integer parameter `name` (undefined when absent). */
export function parseIntParam(params: Record<string, string>, name: string): number | undefined {
  const raw = params[name];
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw new ApiError(400, 'BAD_REQUEST', `${name} is not an integer`);
  return Number(raw);
}

/** Read and parse form parameters from the query and the body (urlencoded or multipart). */
export async function readParams(req: http.IncomingMessage, url: URL): Promise<Record<string, string>> {
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  if (body.length === 0) return params;
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
  } else if (type.startsWith('multipart/form-data')) {
    const form = await new Response(body, {
      headers: { 'content-type': req.headers['content-type'] ?? '' },
    }).formData();
    for (const [k, v] of form) if (typeof v === 'string') params[k] = v;
  }
  // Other bodies (JSON included) are not read, as on a real server.
  return params;
}

/** Send a JSON body, unless the response is already finished or its socket destroyed. */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: Record<string, unknown>,
  headers: Record<string, string>,
): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
