/**
 * The tools over the store, defined once (zod input shapes and handlers) and served two ways:
 * in process to the consultation agent (tools/sdk.ts) and by `dancer mcp` (src/mcp). Every
 * output is redacted and size-limited; a cut output says how to narrow the query. Tables that
 * do not exist yet give an empty result with a note.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { DancerError, isDancerError } from '../../errors.js';
import {
  patternText,
  type TemplateStatus,
  templateById,
  templateMinuteCounts,
  templatesSeenSince,
} from '../../patterns/index.js';
import { gitSync } from '../../process/index.js';
import type { Db } from '../../store/index.js';
import {
  LEVELS,
  type LevelName,
  levelName,
  listLogs,
  loggedPattern,
  loggedPatterns,
  logMinuteCounts,
  parseTimeArg,
  SEARCH_HINT,
  type StoredLog,
  searchLogs,
  tableExists,
} from '../../store/index.js';
import { diverseSample, recordLine, redactedRecord } from '../brief.js';
import { type Redactor, redactedParams, redactTemplate } from '../redact.js';
import type { ConsultReads } from '../types.js';
import { checkFix, checkPattern, checkRequest, scopedTemplate, type ToolScope } from './scope.js';

/** What a tool handler gets. */
export interface ToolContext {
  db: Db;
  redactor: Redactor;
  /** Clock for relative times. */
  now: () => number;
  /** The consultation's pattern and its fixes; unset for `dancer mcp` without a consultation. */
  scope?: ToolScope | undefined;
  /** Reads of the fixes and metrics (stages above consult own them); without them those tools have none. */
  reads?: ConsultReads | undefined;
}

/** What a tool returns before redaction and limits: structured data (a JSON object). */
export type ToolData = Record<string, unknown>;

/** One tool definition. */
export interface StoreTool<S extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  /** First sentence: when to use it. */
  description: string;
  shape: S;
  run(ctx: ToolContext, args: z.infer<z.ZodObject<S>>): ToolData;
}

/** Most characters of one tool result (Claude Code warns above ~10k tokens). */
export const MAX_TOOL_CHARS = 8000;

const HOUR = 3_600_000;
const MINUTE = 60_000;

function missingTable(name: string, what: string): ToolData {
  return { items: [], note: `No ${what} recorded yet (the ${name} table does not exist in this database).` };
}

function unreadable(what: string): ToolData {
  return { items: [], note: `No ${what} available here (this server was started without access to them).` };
}

function time(value: string | undefined, ctx: ToolContext): number | undefined {
  return value === undefined ? undefined : parseTimeArg(value, ctx.now());
}

function iso(ms: number | null | undefined): string | null {
  return typeof ms === 'number' ? new Date(ms).toISOString() : null;
}

/** A record for a tool result, redacted before anything is clipped. */
function record(ctx: ToolContext, raw: StoredLog, withStack = false): Record<string, unknown> {
  const r = redactedRecord(raw, ctx.redactor);
  const o = JSON.parse(recordLine(r)) as Record<string, unknown>;
  if (withStack && r.stack) o.stack = r.stack.length > 2000 ? `${r.stack.slice(0, 2000)}…` : r.stack;
  return o;
}

const levelEnum = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const timeArg = z.string().describe('A duration before now (30m, 2h, 7d) or an ISO time (2026-11-25T14:00:00Z).');

const searchLogsTool: StoreTool = {
  name: 'search_logs',
  title: 'Search logs',
  description:
    'Find log records by full-text query and/or filters (pattern, level, time, request, source); newest last. Use it to check a hypothesis against the records.',
  shape: {
    query: z.string().optional().describe(`Full-text query over message, error and stack. ${SEARCH_HINT}`),
    template_id: z.number().int().optional().describe('Only records of this pattern.'),
    min_level: levelEnum.optional().describe('Only records at this level or above.'),
    since: timeArg.optional(),
    until: timeArg.optional(),
    request_id: z.string().optional(),
    source: z.string().optional().describe('Exact source/module, or a glob with * (api.*).'),
    with_stack: z.boolean().optional().describe('Include stack traces (default false; they are long).'),
    limit: z.number().int().min(1).max(100).optional().describe('Most records to return (default 20).'),
  },
  run(ctx, args) {
    const a = args as {
      query?: string;
      template_id?: number;
      min_level?: LevelName;
      since?: string;
      until?: string;
      request_id?: string;
      source?: string;
      with_stack?: boolean;
      limit?: number;
    };
    const filter = {
      templateId: scopedTemplate(ctx.scope, a.template_id),
      minLevel: a.min_level ? LEVELS[a.min_level] : undefined,
      since: time(a.since, ctx),
      until: time(a.until, ctx),
      requestId: a.request_id,
      source: a.source,
      limit: a.limit ?? 20,
    };
    const rows = a.query ? searchLogs(ctx.db, a.query, filter) : listLogs(ctx.db, filter);
    return {
      items: rows.map((r) => record(ctx, r, a.with_stack === true)),
      returned: rows.length,
      note:
        rows.length === filter.limit
          ? 'More records may match: narrow with since/until, template_id or query.'
          : undefined,
    };
  },
};

interface TemplateLike {
  id: number;
  text: string;
  firstSeen?: number;
  lastSeen?: number;
  count?: number;
  maxLevel?: number;
  status?: string;
}

function templateRow(db: Db, id: number): TemplateLike | undefined {
  if (tableExists(db, 'templates')) {
    const t = templateById(db, id);
    if (t) return t;
  }
  // Not mined (yet): describe the pattern from its records.
  return loggedPattern(db, id);
}

/** A pattern for a tool result: its text redacted as a template (a wildcard cannot hide half a key). */
function templateView(t: TemplateLike, redactor: Redactor): Record<string, unknown> {
  return {
    id: t.id,
    text: redactTemplate(t.text, redactor),
    status: t.status ?? null,
    count: t.count ?? null,
    level: t.maxLevel !== undefined ? levelName(t.maxLevel) : null,
    first_seen: iso(t.firstSeen),
    last_seen: iso(t.lastSeen),
  };
}

const listPatternsTool: StoreTool = {
  name: 'list_patterns',
  title: 'List patterns',
  description:
    'List the mined log patterns (templates), most frequent first, with counts, level, status and first/last seen. Use it to see what else is going on.',
  shape: {
    min_level: levelEnum.optional().describe('Only patterns whose highest level is at least this (default warn).'),
    since: timeArg.optional().describe('Only patterns seen since then (default 24h).'),
    status: z.enum(['new', 'known', 'fixing', 'fixed', 'ignored']).optional(),
    limit: z.number().int().min(1).max(100).optional().describe('Default 20.'),
  },
  run(ctx, args) {
    const a = args as { min_level?: LevelName; since?: string; status?: string; limit?: number };
    const minLevel = LEVELS[a.min_level ?? 'warn'];
    const since = time(a.since ?? '24h', ctx) ?? 0;
    const limit = a.limit ?? 20;
    if (ctx.scope) {
      const t = ctx.scope.templateId === null ? undefined : templateRow(ctx.db, ctx.scope.templateId);
      return { items: t ? [templateView(t, ctx.redactor)] : [], note: "Only this consultation's pattern is in scope." };
    }
    if (tableExists(ctx.db, 'templates')) {
      const rows = templatesSeenSince(ctx.db, {
        minLevel,
        since,
        status: a.status as TemplateStatus | undefined,
        limit,
      });
      return { items: rows.map((t) => templateView(t, ctx.redactor)) };
    }
    const rows = loggedPatterns(ctx.db, { minLevel, since, limit });
    return {
      items: rows.map((t) => templateView(t, ctx.redactor)),
      note: 'No templates table yet: patterns derived from the logs.',
    };
  },
};

const getPatternTool: StoreTool = {
  name: 'get_pattern',
  title: 'Get pattern',
  description:
    'Details of one pattern: its text, counts, the distribution of its <*> parameters and of route/status/error fields, and diverse example records.',
  shape: {
    id: z.number().int().describe('Pattern (template) id.'),
    examples: z.number().int().min(0).max(20).optional().describe('Example records (default 5).'),
  },
  run(ctx, args) {
    const a = args as { id: number; examples?: number };
    checkPattern(ctx.scope, a.id);
    const t = templateRow(ctx.db, a.id);
    if (!t) throw new DancerError('DANCER_NOT_FOUND', `No pattern ${a.id}. Call list_patterns to see the ids.`);
    const rows = listLogs(ctx.db, { templateId: a.id, limit: 500 });
    // Parameters from redacted messages only, each with the text in front of it (its key).
    const split = redactedParams(
      t.text,
      rows.map((r) => patternText(r)),
      ctx.redactor,
    );
    const fields: Record<string, Record<string, number>> = {};
    for (const r of rows) {
      for (const key of ['httpRoute', 'httpStatus', 'errType', 'errCode', 'hostname', 'source'] as const) {
        const v = r[key];
        if (v === undefined || v === null) continue;
        fields[key] ??= {};
        const m = fields[key] as Record<string, number>;
        m[String(v)] = (m[String(v)] ?? 0) + 1;
      }
    }
    const top = (m: Record<string, number>) =>
      Object.entries(m)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 10)
        .map(([value, count]) => ({ value, count }));
    return {
      pattern: { ...templateView(t, ctx.redactor), text: split.template },
      sampled_rows: rows.length,
      parameters: split.params.map((p, i) => ({
        index: i + 1,
        after: p.before,
        top: top(Object.fromEntries(p.values)),
      })),
      unsplit_rows: split.unsplit || undefined,
      fields: Object.fromEntries(Object.entries(fields).map(([k, m]) => [k, top(m)])),
      examples: diverseSample(rows, a.examples ?? 5, t.text).map((r) => record(ctx, r, true)),
    };
  },
};

const patternTimelineTool: StoreTool = {
  name: 'pattern_timeline',
  title: 'Pattern timeline',
  description:
    'Counts of one pattern over time, in buckets (default: 24 hours in 60-minute buckets). Use it to see when it started or spiked.',
  shape: {
    id: z.number().int().describe('Pattern (template) id.'),
    since: timeArg.optional().describe('Start (default 24h).'),
    until: timeArg.optional().describe('End (default now).'),
    bucket_minutes: z.number().int().min(1).max(1440).optional().describe('Bucket width (default 60).'),
  },
  run(ctx, args) {
    const a = args as { id: number; since?: string; until?: string; bucket_minutes?: number };
    checkPattern(ctx.scope, a.id);
    const until = time(a.until, ctx) ?? ctx.now();
    const since = time(a.since ?? '24h', ctx) ?? until - 24 * HOUR;
    const width = a.bucket_minutes ?? 60;
    let rows = templateMinuteCounts(ctx.db, a.id, Math.floor(since / MINUTE), Math.floor(until / MINUTE));
    if (rows.length === 0) rows = logMinuteCounts(ctx.db, a.id, since, until);
    const buckets = new Map<number, number>();
    for (const r of rows) {
      const b = Math.floor((r.minute * MINUTE - since) / (width * MINUTE));
      buckets.set(b, (buckets.get(b) ?? 0) + r.n);
    }
    const count = Math.max(1, Math.ceil((until - since) / (width * MINUTE)));
    if (count > 500) {
      throw new DancerError(
        'DANCER_QUERY_INVALID',
        `${count} buckets: use a shorter range or a wider bucket_minutes (at most 500 buckets).`,
      );
    }
    const items = Array.from({ length: count }, (_, i) => ({
      start: iso(since + i * width * MINUTE),
      count: buckets.get(i) ?? 0,
    }));
    return { id: a.id, bucket_minutes: width, total: items.reduce((s, b) => s + b.count, 0), items };
  },
};

const getRequestTool: StoreTool = {
  name: 'get_request',
  title: 'Get request',
  description:
    'All records of one request id, in order, with stacks. Use it to see what happened before and after an error in the same request.',
  shape: {
    request_id: z.string().min(1),
    limit: z.number().int().min(1).max(200).optional().describe('Default 50.'),
  },
  run(ctx, args) {
    const a = args as { request_id: string; limit?: number };
    checkRequest(ctx.db, ctx.scope, a.request_id);
    const rows = listLogs(ctx.db, { requestId: a.request_id, limit: a.limit ?? 50 });
    return { request_id: a.request_id, items: rows.map((r) => record(ctx, r, true)) };
  },
};

const getMetricsTool: StoreTool = {
  name: 'get_metrics',
  title: 'Get metrics',
  description:
    'System metrics the supervisor recorded (cpu_percent, rss_bytes, fds, ...), bucketed: min/avg/max per bucket.',
  shape: {
    name: z.string().optional().describe('Metric name; omit to list the names.'),
    since: timeArg.optional().describe('Default 1h.'),
    until: timeArg.optional(),
    bucket_minutes: z.number().int().min(1).max(1440).optional().describe('Default 5.'),
  },
  run(ctx, args) {
    const a = args as { name?: string; since?: string; until?: string; bucket_minutes?: number };
    if (!tableExists(ctx.db, 'metrics')) return missingTable('metrics', 'metrics');
    if (!ctx.reads) return unreadable('metrics');
    const until = time(a.until, ctx) ?? ctx.now();
    const since = time(a.since ?? '1h', ctx) ?? until - HOUR;
    if (!a.name) {
      const names = ctx.reads.metricSummaries(ctx.db, since, until).map((m) => ({ name: m.name, samples: m.samples }));
      return { items: names, note: 'Call again with name for the values.' };
    }
    const width = (a.bucket_minutes ?? 5) * MINUTE;
    const rows = ctx.reads.metricBuckets(ctx.db, a.name, since, until, width);
    return {
      name: a.name,
      items: rows.map((r) => ({
        start: iso(since + r.bucket * width),
        min: r.min,
        avg: r.avg,
        max: r.max,
        samples: r.samples,
      })),
    };
  },
};

/** The columns `list_fixes` shows of each fix (`get_fix` shows them all). */
const LIST_FIX_COLUMNS = [
  'id',
  'pattern_id',
  'kind',
  'state',
  'summary',
  'risk',
  'confidence',
  'failed_step',
  'reason',
  'created_at',
  'updated_at',
] as const;

const listFixesTool: StoreTool = {
  name: 'list_fixes',
  title: 'List fixes',
  description:
    'Previous fixes Dancer tried, newest first: state, summary, why they failed or were rolled back. Use it before proposing a fix.',
  shape: {
    pattern_id: z.number().int().optional().describe('Only fixes for this pattern.'),
    state: z.string().optional().describe('Only fixes in this state (e.g. failed, rolled_back, deployed).'),
    limit: z.number().int().min(1).max(100).optional().describe('Default 20.'),
  },
  run(ctx, args) {
    const a = args as { pattern_id?: number; state?: string; limit?: number };
    if (!tableExists(ctx.db, 'fixes')) return missingTable('fixes', 'fixes');
    if (ctx.scope?.templateId === null) return { items: [], note: 'This consultation has no pattern, so no fixes.' };
    if (!ctx.reads) return unreadable('fixes');
    if (ctx.scope) a.pattern_id = scopedTemplate(ctx.scope, a.pattern_id);
    const rows = ctx.reads.fixRows(ctx.db, {
      patternId: a.pattern_id === undefined ? undefined : String(a.pattern_id),
      state: a.state,
      limit: a.limit ?? 20,
    });
    return {
      items: rows.map((r) => ({
        ...Object.fromEntries(LIST_FIX_COLUMNS.map((c) => [c, r[c]])),
        created_at: iso(r.created_at as number),
        updated_at: iso(r.updated_at as number),
      })),
    };
  },
};

function gitDiff(worktree: unknown, base: unknown, head: unknown): string | null {
  if (typeof worktree !== 'string' || typeof base !== 'string' || !existsSync(worktree)) return null;
  try {
    const r = gitSync(
      worktree,
      // The real diff, whatever .gitattributes says: no external diff, no textconv, binary as text.
      ['diff', '--no-ext-diff', '--no-textconv', '--text', `${base}..${typeof head === 'string' ? head : 'HEAD'}`],
      {
        allowFail: true,
        raw: true,
        maxBuffer: 4 * 1024 * 1024,
      },
    );
    return r.exitCode === 0 ? r.stdout : null;
  } catch (error) {
    // git missing or timed out: the fix is shown without its diff.
    if (isDancerError(error, 'DANCER_GIT_FAILED')) return null;
    throw error;
  }
}

const getFixTool: StoreTool = {
  name: 'get_fix',
  title: 'Get fix',
  description:
    'One fix in full: analysis, root cause, diff, gate results (with output tails), state history and rollback reason.',
  shape: { id: z.number().int().describe('Fix id (from list_fixes).') },
  run(ctx, args) {
    const a = args as { id: number };
    if (!tableExists(ctx.db, 'fixes')) return missingTable('fixes', 'fixes');
    if (!ctx.reads) return unreadable('fixes');
    const fix = ctx.reads.fixRow(ctx.db, a.id);
    if (!fix) throw new DancerError('DANCER_NOT_FOUND', `No fix ${a.id}. Call list_fixes to see the ids.`);
    checkFix(ctx.scope, a.id, fix.pattern_id);
    const { events, gate } = ctx.reads.fixHistory(ctx.db, a.id);
    // Redacted whole, before any cut: a secret cut in half no longer matches its rule.
    const raw = gitDiff(fix.worktree, fix.base_commit, fix.head_commit);
    const diff = raw === null ? null : ctx.redactor.redact(raw);
    return {
      fix: { ...fix, created_at: iso(fix.created_at as number), updated_at: iso(fix.updated_at as number) },
      events: events.map((e) => ({ ...e, ts: iso(e.ts as number) })),
      gate: gate.map((g) => ({ ...g, output_tail: ctx.redactor.redact(String(g.output_tail ?? '')).slice(-1500) })),
      diff:
        diff === null ? null : diff.length > 4000 ? `${diff.slice(0, 4000)}\n… (diff cut; ${diff.length} chars)` : diff,
    };
  },
};

/** Every store tool, in the order they are listed to the model. */
export const STORE_TOOLS: readonly StoreTool[] = [
  searchLogsTool,
  listPatternsTool,
  getPatternTool,
  patternTimelineTool,
  getRequestTool,
  getMetricsTool,
  listFixesTool,
  getFixTool,
];

/** The result of running a tool: text for the model, the same data structured, and whether it failed. */
export interface ToolResult {
  text: string;
  data: ToolData;
  isError: boolean;
}

/** Fit data into `maxChars` of JSON by dropping list items from the end; say what was cut. */
export function limitOutput(data: ToolData, maxChars: number): ToolData {
  let text = JSON.stringify(data);
  if (text.length <= maxChars) return data;
  const items = Array.isArray(data.items) ? [...data.items] : Array.isArray(data.examples) ? null : null;
  if (items) {
    const total = items.length;
    while (items.length > 0 && JSON.stringify({ ...data, items }).length > maxChars - 200) items.pop();
    const out: ToolData = {
      ...data,
      items,
      truncated: `showing ${items.length} of ${total} items to stay under ${maxChars} characters; narrow the query (limit, since/until, template_id, query) or page with until = the oldest ts shown`,
    };
    text = JSON.stringify(out);
    if (text.length <= maxChars) return out;
  }
  return {
    truncated: `result was ${text.length} characters (limit ${maxChars}); narrow the query`,
    preview: `${text.slice(0, maxChars - 300)}…`,
  };
}

/** Run a tool with validation, redaction and the size limit; errors become `isError` results with a next step. */
export function runStoreTool(
  tool: StoreTool,
  ctx: ToolContext,
  rawArgs: unknown,
  maxChars = MAX_TOOL_CHARS,
): ToolResult {
  const parsed = z
    .object(tool.shape)
    .strict()
    .safeParse(rawArgs ?? {});
  if (!parsed.success) {
    const text = `Invalid arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
    return { text, data: { error: text }, isError: true };
  }
  try {
    const raw = tool.run(ctx, parsed.data);
    const clean = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
    const data = limitOutput(ctx.redactor.redactDeep(clean), maxChars);
    return { text: JSON.stringify(data), data, isError: false };
  } catch (error) {
    const hint = isDancerError(error) && typeof error.details.hint === 'string' ? ` ${error.details.hint}` : '';
    const message = isDancerError(error) ? `${error.code}: ${error.message}` : `Error: ${(error as Error).message}`;
    const text = ctx.redactor.redact(`${message}${hint && !message.includes(hint) ? hint : ''}`);
    return { text, data: { error: text }, isError: true };
  }
}
