/**
 * What the dashboard shows, read from the store: one function per API route. Every text that
 * came from the service's logs, the gate's output or a consultation transcript is redacted
 * before it leaves (secrets and personal data never reach a browser).
 */
import {
  createRedactor,
  getConsultation,
  getLedger,
  hasConsultTables,
  listConsultations,
  readTranscript,
} from '../consult/index.js';
import { DancerError } from '../errors.js';
import {
  type FixRecord,
  type FixState,
  fixEvents,
  gateSteps,
  getFix,
  IN_FLIGHT_STATES,
  isFixState,
  listFixes,
} from '../fixes/index.js';
import { type AuditFilter, beforeAfterOf, searchAudit } from '../notify/index.js';
import {
  bucketRows,
  decisionsForTemplate,
  listDecisions,
  listTemplates,
  templateById,
  templateExamples,
  templateSeries,
  withMergedIds,
} from '../patterns/index.js';
import type { Db } from '../store/index.js';
import { searchLogs, tableExists } from '../store/index.js';
import {
  latestServiceName,
  recentDeploys,
  recentReleases,
  type StatusReport,
  SuperviseStore,
  statusFromStore,
  workerMetricsSince,
} from '../supervise/index.js';
import { deploysOfFix, fixesOfConsultation, fixOfRelease, provenanceOf } from './provenance.js';

const redactor = createRedactor();
/** Redact text that came from logs, the gate or the model. */
export const clean = (text: string | null | undefined): string => (text ? redactor.redact(text) : '');

const MINUTE = 60_000;

function notFound(what: string, id: unknown): never {
  throw new DancerError('DANCER_NOT_FOUND', `No ${what} ${String(id)}.`, { details: { id } });
}

/** Per-minute traffic of the last `minutes`: records, errors and mean latency (for the charts). */
export function traffic(
  db: Db,
  now: number,
  minutes = 60,
): { minutes: number[]; records: number[]; requests: number[]; errors: number[]; meanMs: Array<number | null> } {
  const to = Math.floor(now / MINUTE);
  const from = to - minutes + 1;
  const records = new Array<number>(minutes).fill(0);
  const errors = new Array<number>(minutes).fill(0);
  const durN = new Array<number>(minutes).fill(0);
  const durSum = new Array<number>(minutes).fill(0);
  if (tableExists(db, 'template_buckets')) {
    for (const row of bucketRows(db, from, to)) {
      const i = row.minute - from;
      records[i] = (records[i] ?? 0) + row.counts.count;
      errors[i] = (errors[i] ?? 0) + row.counts.error + row.counts.fatal;
      durN[i] = (durN[i] ?? 0) + row.counts.durN;
      durSum[i] = (durSum[i] ?? 0) + row.counts.durSum;
    }
  }
  return {
    minutes: Array.from({ length: minutes }, (_, i) => (from + i) * MINUTE),
    records,
    /** Records that carry a duration (request logs): the request rate. */
    requests: durN,
    errors,
    meanMs: durN.map((n, i) => (n > 0 ? (durSum[i] ?? 0) / n : null)),
  };
}

/** Worker RSS/CPU samples of the last `minutes`. */
export function workerMetrics(
  db: Db,
  service: string,
  now: number,
  minutes = 60,
): Array<{ ts: number; name: string; value: number; pid: number | null }> {
  return workerMetricsSince(db, service, now - minutes * MINUTE);
}

function deploysOf(db: Db, service: string, limit = 10) {
  return recentDeploys(db, service, limit).map((r) => {
    const ba = beforeAfterOf(r.verdict);
    return {
      id: r.id,
      kind: r.kind as string,
      status: r.status as string,
      fromRelease: r.fromRelease,
      toRelease: r.toRelease,
      fixId: r.fixId,
      reason: r.reason,
      actor: r.actor,
      startedAt: r.startedAt,
      readyAt: r.readyAt,
      windowEndsAt: r.windowEndsAt,
      finishedAt: r.finishedAt,
      verdict: ba?.verdict ?? null,
      reasons: ba?.reasons ?? [],
      before: ba?.before ?? null,
      after: ba?.after ?? null,
    };
  });
}

/** The service name stored in the database (the first one that ever ran), for a bare `--db`. */
export function storedServiceName(db: Db): string | undefined {
  return latestServiceName(db);
}

const alive = (pid: number | null | undefined): boolean => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The status as the store has it, read from another process than the supervisor's (`dancer
 * dashboard`, `dancer top`): a supervisor whose pid is alive is running.
 */
export function storeStatus(db: Db, service: string): StatusReport {
  const report = statusFromStore(db, service);
  const row = tableExists(db, 'supervisor_state') ? new SuperviseStore(db).getState(service) : undefined;
  if (!row || row.state === 'stopped' || !alive(row.supervisorPid)) return report;
  return {
    ...report,
    running: true,
    state: row.state,
    supervisorPid: row.supervisorPid,
    uptimeSeconds: row.startedAt ? Math.round((Date.now() - row.startedAt) / 1000) : null,
  };
}

/** `GET /api/status`: the service, workers, releases, the deploy under observation, traffic. */
export function status(db: Db, service: string, now: number, live?: StatusReport) {
  const report = live ?? storeStatus(db, service);
  const deploys = deploysOf(db, service);
  const observing = deploys.find((d) => d.status === 'observing' || d.status === 'inconclusive') ?? null;
  const releases = recentReleases(db, service, 10).map((r) => ({
    id: r.id,
    commitSha: r.commitSha,
    status: r.status as string,
    createdAt: r.createdAt,
    builtAt: r.builtAt,
  }));
  return {
    service: report.service,
    state: report.state,
    running: report.running,
    supervisorPid: report.supervisorPid,
    uptimeSeconds: report.uptimeSeconds,
    workers: report.workers,
    currentRelease: report.currentRelease,
    previousRelease: report.previousRelease,
    lastGoodRelease: report.lastGoodRelease,
    restarts: report.restarts,
    recentRestarts: report.recentRestarts,
    emergencyStop: report.emergencyStop,
    metrics: report.metrics,
    releases: releases.map((r) => ({ ...r, fixId: fixOfRelease(db, r.id)?.id ?? null })),
    deploys,
    observing,
    openFixes: listFixes(db, { states: IN_FLIGHT_STATES }).map((f) => ({
      id: f.id,
      state: f.state,
      summary: f.summary,
      patternId: f.patternId,
    })),
    decisions: tableExists(db, 'decisions')
      ? listDecisions(db, { since: now - 24 * 60 * MINUTE })
          .slice(-10)
          .reverse()
      : [],
    traffic: traffic(db, now),
    workerMetrics: workerMetrics(db, service, now),
    now,
  };
}

/** `GET /api/patterns`: templates with their last hour per minute and their last decision. */
export function patterns(db: Db, now: number, options: { minLevel?: number; limit?: number } = {}) {
  if (!tableExists(db, 'templates')) return [];
  const to = Math.floor(now / MINUTE);
  const from = to - 59;
  return listTemplates(db, { minLevel: options.minLevel ?? 40, limit: options.limit ?? 100 }).map((t) => {
    const last = tableExists(db, 'decisions') ? decisionsForTemplate(db, t.id, 1)[0] : undefined;
    return {
      ...t,
      text: clean(t.text),
      trend: templateSeries(db, t.id, from, to),
      lastDecision: last ? { at: last.at, rule: last.rule, outcome: last.outcome, reason: last.reason } : null,
      fixes: listFixes(db, { patternId: String(t.id), limit: 5 }).map((f) => ({ id: f.id, state: f.state })),
    };
  });
}

/** `GET /api/patterns/:id`: one pattern with examples, trend, decisions, consultations and fixes. */
export function pattern(db: Db, id: number, now: number) {
  const t = tableExists(db, 'templates') ? templateById(db, id) : undefined;
  if (!t) notFound('pattern', id);
  const to = Math.floor(now / MINUTE);
  const from = to - 24 * 60 + 1;
  const trend = new Array<number>(to - from + 1).fill(0);
  for (const one of withMergedIds(db, id)) {
    templateSeries(db, one, from, to).forEach((v, i) => {
      trend[i] = (trend[i] ?? 0) + v;
    });
  }
  return {
    ...t,
    text: clean(t.text),
    trend: { from: from * MINUTE, stepMs: MINUTE, counts: trend },
    examples: templateExamples(db, t, 5).map((e) => ({ ...e, message: clean(e.message), parameters: undefined })),
    decisions: tableExists(db, 'decisions') ? decisionsForTemplate(db, id, 20) : [],
    consultations: hasConsultTables(db)
      ? listConsultations(db, { templateId: id, limit: 20 }).map((c) => ({
          id: c.id,
          createdAt: c.createdAt,
          status: c.status,
          outcomeKind: c.outcomeKind,
          costUsd: getLedger(db, c.id)?.costUsd ?? null,
        }))
      : [],
    fixes: listFixes(db, { patternId: String(id) }).map((f) => ({
      id: f.id,
      state: f.state,
      summary: f.summary,
      consultationId: f.consultationId,
      release: f.mergeCommit,
      createdAt: f.createdAt,
    })),
  };
}

/** `GET /api/fixes`: fixes, newest first (`state` comma list, `release` a commit). */
export function fixes(db: Db, query: { state?: string; release?: string; limit?: number } = {}) {
  if (query.release) {
    const fix = fixOfRelease(db, query.release);
    return fix ? [fix] : [];
  }
  const states = (query.state ?? '').split(',').filter(Boolean);
  for (const s of states) if (!isFixState(s)) throw new DancerError('DANCER_USAGE', `Unknown fix state "${s}".`);
  return listFixes(db, { states: states as FixState[], limit: query.limit ?? 100 });
}

/**
 * `GET /api/fixes/:id`: the fix with its events, gate steps (output redacted), policy result,
 * diff, consultation id, deploys, release and the whole provenance chain.
 */
export async function fix(db: Db, id: number, diffOf?: (fix: FixRecord) => Promise<string | undefined>) {
  const record = getFix(db, id);
  const events = fixEvents(db, id).map((e) => ({ ...e, reason: clean(e.reason) }));
  const policyEvent = [...events].reverse().find((e) => e.actor === 'policy');
  return {
    fix: {
      ...record,
      analysis: clean(record.analysis),
      rootCause: clean(record.rootCause),
      reason: clean(record.reason),
    },
    events,
    gateSteps: gateSteps(db, id).map((s) => ({ ...s, outputTail: clean(s.outputTail) })),
    policy: policyEvent
      ? {
          event: policyEvent.event,
          ok: policyEvent.event !== 'fail',
          reason: policyEvent.reason,
          details: policyEvent.details,
        }
      : null,
    diff: (await diffOf?.(record)) ?? null,
    consultationId: record.consultationId,
    deploys: deploysOfFix(db, record),
    release: record.mergeCommit,
    provenance: provenanceOf(db, id),
  };
}

/** Text of one transcript message, for humans (assistant text, tool calls, tool results). */
function transcriptEntry(message: unknown): { role: string; text: string } {
  const m = message as { type?: string; subtype?: string; message?: { content?: unknown }; result?: unknown };
  const role = m.type ?? 'unknown';
  const content = m.message?.content;
  if (Array.isArray(content)) {
    const parts = content.map((c: Record<string, unknown>) => {
      if (c.type === 'text') return String(c.text ?? '');
      if (c.type === 'tool_use') return `[tool ${String(c.name)}] ${JSON.stringify(c.input)}`;
      if (c.type === 'tool_result') {
        const inner = Array.isArray(c.content)
          ? (c.content as Array<Record<string, unknown>>).map((x) => String(x.text ?? '')).join('\n')
          : String(c.content ?? '');
        return `[tool result] ${inner}`;
      }
      if (c.type === 'thinking') return `[thinking] ${String(c.thinking ?? '')}`;
      return JSON.stringify(c);
    });
    return { role, text: parts.join('\n') };
  }
  if (typeof content === 'string') return { role, text: content };
  if (role === 'result') return { role: `result${m.subtype ? ` (${m.subtype})` : ''}`, text: String(m.result ?? '') };
  if (role === 'system') return { role: `system${m.subtype ? ` (${m.subtype})` : ''}`, text: '' };
  return { role, text: JSON.stringify(message) };
}

/** `GET /api/consultations/:id`: the consultation, its cost, its fixes and its transcript, redacted. */
export function consultation(db: Db, id: number, options: { transcript?: boolean } = {}) {
  if (!hasConsultTables(db)) notFound('consultation', id);
  const c = getConsultation(db, id);
  if (!c) notFound('consultation', id);
  const ledger = getLedger(db, id) ?? null;
  const out = {
    id: c.id,
    createdAt: c.createdAt,
    finishedAt: c.finishedAt,
    triggerKind: c.triggerKind,
    templateId: c.templateId,
    urgent: c.urgent,
    mode: c.mode,
    status: c.status,
    model: c.model,
    outcomeKind: c.outcomeKind,
    outcome: c.outcome,
    error: clean(c.error),
    manualReason: c.manualReason,
    brief: clean(c.brief),
    ledger,
    fixes: fixesOfConsultation(db, id).map((f) => ({
      id: f.id,
      state: f.state,
      summary: f.summary,
      release: f.mergeCommit,
    })),
    transcript: [] as Array<{ seq: number; ts: number; role: string; text: string }>,
  };
  if (options.transcript !== false) {
    out.transcript = readTranscript(db, id).map((m) => {
      const e = transcriptEntry(m.message);
      return { seq: m.seq, ts: m.ts, role: e.role, text: clean(e.text) };
    });
  }
  return out;
}

/** Consultations, newest first, with cost. */
export function consultations(db: Db, limit = 50) {
  if (!hasConsultTables(db)) return [];
  return listConsultations(db, { limit }).map((c) => {
    const ledger = getLedger(db, c.id);
    return {
      id: c.id,
      createdAt: c.createdAt,
      finishedAt: c.finishedAt,
      templateId: c.templateId,
      triggerKind: c.triggerKind,
      mode: c.mode,
      status: c.status,
      outcomeKind: c.outcomeKind,
      model: ledger?.model ?? c.model,
      costUsd: ledger?.costUsd ?? null,
      turns: ledger?.turns ?? null,
      fixes: fixesOfConsultation(db, c.id).map((f) => f.id),
    };
  });
}

/** Filters of `GET /api/audit`. */
export type AuditQuery = AuditFilter;

/** `GET /api/audit`: the audit log, newest first, filtered (actor is a substring match). */
export function audit(db: Db, q: AuditQuery = {}) {
  return searchAudit(db, q).map((r) => ({
    id: r.id,
    ts: r.ts,
    actor: r.actor,
    actorId: r.actorId ?? null,
    source: r.source as string,
    action: r.action,
    target: r.target ?? null,
    args: r.args ?? null,
    outcome: r.outcome as string,
    detail: clean(r.detail),
  }));
}

/** `GET /api/logs?q=`: full-text search (FTS5 syntax), newest last, text redacted. */
export function logs(db: Db, q: string, limit = 100) {
  return searchLogs(db, q, { limit: Math.min(limit, 1000) }).map((r) => ({
    id: r.id,
    ts: r.ts,
    lastTs: r.lastTs,
    count: r.count,
    level: r.level,
    source: r.source ?? null,
    message: clean(r.message),
    errType: r.errType ?? null,
    errMessage: clean(r.errMessage),
    stack: clean(r.stack),
    templateId: r.templateId ?? null,
    pid: r.pid ?? null,
    httpRoute: r.httpRoute ?? null,
    httpStatus: r.httpStatus ?? null,
    durationMs: r.durationMs ?? null,
  }));
}
