/**
 * The dashboard's actions: approve, reject, retry, rollback, stop, resume. Each goes through the
 * same functions the Zulip bot and the CLI use (the live actions over the fix pipeline and the
 * supervisor, `requestRetry` of the fixes stage), so the same refusals apply (an emergency stop
 * forbids an approval, an illegal transition is refused), and each is written to the audit log
 * with its actor, whatever became of it.
 */
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import { getFix, isTerminal, requestRetry } from '../fixes/index.js';
import type { BotActions } from '../notify/index.js';
import { type AuditOutcome, recordAudit } from '../notify/index.js';
import type { Db } from '../store/index.js';

/** One action asked of the dashboard. */
export type DashboardAction =
  | { kind: 'approve'; fixId: number }
  | { kind: 'reject'; fixId: number; reason: string }
  | { kind: 'retry'; fixId: number; reason: string }
  | { kind: 'rollback'; fixId?: number | undefined }
  | { kind: 'stop'; reason?: string | undefined }
  | { kind: 'resume' };

/** What an action answers. */
export interface ActionAnswer {
  ok: true;
  message: string;
  effects?: string[];
}

/** What the actions need. */
export interface ActionDeps {
  db: Db;
  actions: Pick<BotActions, 'approve' | 'reject' | 'rollback' | 'stop' | 'resume'>;
  /** Roll back through a supervisor in another process (standalone `dancer dashboard`). */
  rollbackViaControl?: ((by: string, reason: string) => Promise<string>) | undefined;
  now?: () => number;
}

/** HTTP status for an error an action threw. */
export function statusForError(error: unknown): number {
  if (!isDancerError(error)) return 500;
  switch (error.code) {
    case 'DANCER_NOT_FOUND':
      return 404;
    case 'DANCER_USAGE':
    case 'DANCER_QUERY_INVALID':
    case 'DANCER_TIME_INVALID':
      return 400;
    case 'DANCER_ILLEGAL_TRANSITION':
    case 'DANCER_EMERGENCY_STOP':
      return 409;
    case 'DANCER_SUPERVISOR_UNREACHABLE':
      return 503;
    case 'DANCER_UNAUTHORIZED':
      return 401;
    case 'DANCER_READ_ONLY':
    case 'DANCER_NOT_ALLOWED':
      return 403;
    default:
      return 500;
  }
}

const targetOf = (a: DashboardAction): string | undefined =>
  'fixId' in a && a.fixId !== undefined ? `fix:${a.fixId}` : undefined;

/**
 * Perform `action` as `actor` (a name the person gave, e.g. `alice`; recorded as
 * `dashboard:alice` in the audit log, or `cli:alice` from `dancer top`, and `human:alice` on the
 * fix). Audits success and failure.
 *
 * @throws {DancerError} whatever the underlying action refuses with (`DANCER_EMERGENCY_STOP`,
 *   `DANCER_ILLEGAL_TRANSITION`, `DANCER_NOT_FOUND`, ...), after auditing it.
 */
export async function performAction(
  deps: ActionDeps,
  action: DashboardAction,
  actor: string,
  source: 'dashboard' | 'cli' = 'dashboard',
): Promise<ActionAnswer> {
  const now = deps.now ?? Date.now;
  const by = `human:${actor}`;
  const audit = (outcome: AuditOutcome, detail?: string) => {
    const { kind, ...args } = action;
    recordAudit(deps.db, {
      ts: now(),
      actor: `${source}:${actor}`,
      source,
      action: kind,
      target: targetOf(action),
      args: Object.keys(args).length ? (args as Record<string, unknown>) : undefined,
      outcome,
      detail,
    });
  };
  try {
    const answer = await run(deps, action, by, actor);
    audit('ok', answer.message);
    return answer;
  } catch (error) {
    const outcome: AuditOutcome =
      isDancerError(error, 'DANCER_EMERGENCY_STOP') || isDancerError(error, 'DANCER_ILLEGAL_TRANSITION')
        ? 'refused'
        : isDancerError(error, 'DANCER_USAGE') || isDancerError(error, 'DANCER_NOT_FOUND')
          ? 'invalid'
          : 'failed';
    audit(outcome, isDancerError(error) ? `${error.code}: ${error.message}` : errorMessage(error));
    throw error;
  }
}

async function run(deps: ActionDeps, action: DashboardAction, by: string, actor: string): Promise<ActionAnswer> {
  const { actions } = deps;
  switch (action.kind) {
    case 'approve':
      return { ok: true, ...(await actions.approve(action.fixId, by)) };
    case 'reject':
      if (!action.reason.trim()) throw new DancerError('DANCER_USAGE', 'A rejection needs a reason.');
      return { ok: true, ...(await actions.reject(action.fixId, by, action.reason)) };
    case 'retry': {
      const fix = getFix(deps.db, action.fixId);
      if (!isTerminal(fix.state)) {
        throw new DancerError('DANCER_USAGE', `Fix ${fix.id} is ${fix.state}; only a finished fix can be retried.`, {
          details: { id: fix.id, state: fix.state },
        });
      }
      const r = requestRetry(deps.db, fix.id, actor, action.reason, (deps.now ?? Date.now)());
      return { ok: true, message: `Retry of fix ${fix.id} requested (request ${r.id}); the supervisor picks it up.` };
    }
    case 'rollback':
      try {
        return { ok: true, ...(await actions.rollback(action.fixId, by)) };
      } catch (error) {
        if (action.fixId !== undefined || !deps.rollbackViaControl) throw error;
        if (!isDancerError(error, 'DANCER_SUPERVISOR_UNREACHABLE')) throw error;
        return { ok: true, message: await deps.rollbackViaControl(actor, `rollback requested by ${actor}`) };
      }
    case 'stop': {
      const r = await actions.stop(by, action.reason);
      return { ok: true, message: r.message, ...(r.effects ? { effects: r.effects } : {}) };
    }
    case 'resume':
      return { ok: true, ...(await actions.resume(by)) };
  }
}
