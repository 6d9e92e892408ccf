import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';

/** The persisted supervisor state of one service (table `supervisor_state`). */
export interface SupervisorStateRow {
  service: string;
  state: string;
  supervisorPid: number | null;
  startedAt: number | null;
  currentRelease: string | null;
  previousRelease: string | null;
  lastGoodRelease: string | null;
  restarts: number;
  workers: PersistedWorker[];
  updatedAt: number;
}

/** A worker as recorded in the store (for reconciliation after a supervisor crash). */
export interface PersistedWorker {
  pid: number;
  pgid: number;
  release: string;
  startedAt: number;
  /** Process start time in clock ticks since boot, guards against pid reuse. */
  startTicks?: number | undefined;
  role: 'current' | 'candidate' | 'draining' | 'orphan';
  /** The start time (ms) of the supervisor that started it: its generation. */
  generation?: number | undefined;
}

/** A row of `releases`. */
export interface ReleaseRow {
  service: string;
  id: string;
  commitSha: string | null;
  dir: string;
  status: 'building' | 'ready' | 'failed';
  createdAt: number;
  builtAt: number | null;
  error: string | null;
}

/** Status of a deploy. */
export type DeployStatus =
  | 'building'
  | 'starting'
  | 'observing'
  | 'succeeded'
  | 'rolled_back'
  | 'failed'
  | 'inconclusive'
  | 'accepted';

/** A row of `deploys`. */
export interface DeployRow {
  id: number;
  service: string;
  kind: 'deploy' | 'rollback' | 'reload';
  fromRelease: string | null;
  toRelease: string;
  fixId: number | null;
  targetTemplateId: number | null;
  status: DeployStatus;
  reason: string | null;
  actor: string | null;
  startedAt: number;
  readyAt: number | null;
  windowEndsAt: number | null;
  finishedAt: number | null;
  extensions: number;
  verdict: unknown;
}

/** Name of the emergency-stop flag in `flags`. */
export const EMERGENCY_STOP_FLAG = 'emergency_stop';

/** A row of `flags`. */
export interface FlagRow {
  name: string;
  value: string;
  setBy: string | null;
  reason: string | null;
  setAt: number;
}

/** Read and write the supervisor's tables. Synchronous (better-sqlite3); one instance per db. */
export class SuperviseStore {
  constructor(readonly db: Db) {}

  /** The persisted state of `service`, or undefined when it never ran. */
  getState(service: string): SupervisorStateRow | undefined {
    const row = this.db.prepare('SELECT * FROM supervisor_state WHERE service = ?').get(service) as
      | Record<string, unknown>
      | undefined;
    if (!row) return undefined;
    return {
      service: row.service as string,
      state: row.state as string,
      supervisorPid: row.supervisor_pid as number | null,
      startedAt: row.started_at as number | null,
      currentRelease: row.current_release as string | null,
      previousRelease: row.previous_release as string | null,
      lastGoodRelease: row.last_good_release as string | null,
      restarts: row.restarts as number,
      workers: JSON.parse((row.workers as string) || '[]') as PersistedWorker[],
      updatedAt: row.updated_at as number,
    };
  }

  /** Create or update the state row with `patch`. */
  saveState(
    service: string,
    patch: Partial<Omit<SupervisorStateRow, 'service' | 'updatedAt'>>,
    now = Date.now(),
  ): void {
    const current = this.getState(service);
    const next: SupervisorStateRow = {
      service,
      state: 'stopped',
      supervisorPid: null,
      startedAt: null,
      currentRelease: null,
      previousRelease: null,
      lastGoodRelease: null,
      restarts: 0,
      workers: [],
      ...current,
      ...patch,
      updatedAt: now,
    };
    this.db
      .prepare(
        `INSERT INTO supervisor_state (service, state, supervisor_pid, started_at, current_release, previous_release,
           last_good_release, restarts, workers, updated_at)
         VALUES (@service, @state, @supervisorPid, @startedAt, @currentRelease, @previousRelease, @lastGoodRelease,
           @restarts, @workers, @updatedAt)
         ON CONFLICT(service) DO UPDATE SET state=excluded.state, supervisor_pid=excluded.supervisor_pid,
           started_at=excluded.started_at, current_release=excluded.current_release,
           previous_release=excluded.previous_release, last_good_release=excluded.last_good_release,
           restarts=excluded.restarts, workers=excluded.workers, updated_at=excluded.updated_at`,
      )
      .run({ ...next, workers: JSON.stringify(next.workers) });
  }

  getRelease(service: string, id: string): ReleaseRow | undefined {
    const row = this.db.prepare('SELECT * FROM releases WHERE service = ? AND id = ?').get(service, id) as
      | Record<string, unknown>
      | undefined;
    return row ? toRelease(row) : undefined;
  }

  /** Insert or replace a release row. */
  putRelease(row: ReleaseRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO releases (service, id, commit_sha, dir, status, created_at, built_at, error)
         VALUES (@service, @id, @commitSha, @dir, @status, @createdAt, @builtAt, @error)`,
      )
      .run(row);
  }

  listReleases(service: string): ReleaseRow[] {
    return (
      this.db.prepare('SELECT * FROM releases WHERE service = ? ORDER BY created_at DESC').all(service) as Array<
        Record<string, unknown>
      >
    ).map(toRelease);
  }

  /** Insert a deploy and return its id. */
  insertDeploy(
    row: Omit<DeployRow, 'id' | 'extensions' | 'verdict' | 'readyAt' | 'windowEndsAt' | 'finishedAt'>,
  ): number {
    const info = this.db
      .prepare(
        `INSERT INTO deploys (service, kind, from_release, to_release, fix_id, target_template_id, status, reason, actor, started_at)
         VALUES (@service, @kind, @fromRelease, @toRelease, @fixId, @targetTemplateId, @status, @reason, @actor, @startedAt)`,
      )
      .run(row);
    return Number(info.lastInsertRowid);
  }

  /** Update fields of a deploy. */
  updateDeploy(
    id: number,
    patch: Partial<
      Pick<
        DeployRow,
        'status' | 'reason' | 'readyAt' | 'windowEndsAt' | 'finishedAt' | 'extensions' | 'verdict' | 'toRelease'
      >
    >,
  ): void {
    const cols: Record<string, string> = {
      status: 'status',
      reason: 'reason',
      readyAt: 'ready_at',
      windowEndsAt: 'window_ends_at',
      finishedAt: 'finished_at',
      extensions: 'extensions',
      verdict: 'verdict',
      toRelease: 'to_release',
    };
    const sets: string[] = [];
    const values: Record<string, unknown> = { id };
    for (const [key, value] of Object.entries(patch)) {
      const col = cols[key];
      if (!col || value === undefined) continue;
      sets.push(`${col} = @${key}`);
      values[key] = key === 'verdict' ? JSON.stringify(value) : value;
    }
    if (sets.length === 0) return;
    this.db.prepare(`UPDATE deploys SET ${sets.join(', ')} WHERE id = @id`).run(values);
  }

  getDeploy(id: number): DeployRow | undefined {
    const row = this.db.prepare('SELECT * FROM deploys WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row ? toDeploy(row) : undefined;
  }

  /** Most recent deploys first. */
  listDeploys(service: string, limit = 20): DeployRow[] {
    return (
      this.db.prepare('SELECT * FROM deploys WHERE service = ? ORDER BY id DESC LIMIT ?').all(service, limit) as Array<
        Record<string, unknown>
      >
    ).map(toDeploy);
  }

  /** Deploys not finished (building, starting, observing): what a restarted supervisor must resume. */
  unfinishedDeploys(service: string): DeployRow[] {
    return (
      this.db
        .prepare(
          "SELECT * FROM deploys WHERE service = ? AND status IN ('building','starting','observing') ORDER BY id",
        )
        .all(service) as Array<Record<string, unknown>>
    ).map(toDeploy);
  }

  getFlag(name: string): FlagRow | undefined {
    const row = this.db.prepare('SELECT * FROM flags WHERE name = ?').get(name) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      name: row.name as string,
      value: row.value as string,
      setBy: row.set_by as string | null,
      reason: row.reason as string | null,
      setAt: row.set_at as number,
    };
  }

  setFlag(name: string, value: string, setBy: string | null, reason: string | null, now = Date.now()): void {
    this.db
      .prepare('INSERT OR REPLACE INTO flags (name, value, set_by, reason, set_at) VALUES (?, ?, ?, ?, ?)')
      .run(name, value, setBy, reason, now);
  }

  clearFlag(name: string): boolean {
    return this.db.prepare('DELETE FROM flags WHERE name = ?').run(name).changes > 0;
  }

  /** Insert metric samples in one transaction. */
  insertMetrics(
    rows: ReadonlyArray<{
      ts: number;
      service: string;
      scope: string;
      pid: number | null;
      name: string;
      value: number;
    }>,
  ): void {
    if (rows.length === 0) return;
    const stmt = this.db.prepare(
      'INSERT INTO metrics (ts, service, scope, pid, name, value) VALUES (@ts, @service, @scope, @pid, @name, @value)',
    );
    this.db.transaction(() => {
      for (const row of rows) stmt.run(row);
    })();
  }

  /** Delete metric samples older than `beforeTs`. */
  pruneMetrics(beforeTs: number): number {
    return this.db.prepare('DELETE FROM metrics WHERE ts < ?').run(beforeTs).changes;
  }
}

/** The emergency stop flag, when engaged. Works on any open db (read-only too). */
export function emergencyStop(db: Db): FlagRow | undefined {
  if (!tableExists(db, 'flags')) return undefined;
  return new SuperviseStore(db).getFlag(EMERGENCY_STOP_FLAG);
}

/** A `releases` row as the store returns it, typed. */
export function toRelease(row: Record<string, unknown>): ReleaseRow {
  return {
    service: row.service as string,
    id: row.id as string,
    commitSha: row.commit_sha as string | null,
    dir: row.dir as string,
    status: row.status as ReleaseRow['status'],
    createdAt: row.created_at as number,
    builtAt: row.built_at as number | null,
    error: row.error as string | null,
  };
}

/** A `deploys` row as the store returns it, typed (the verdict parsed). */
export function toDeploy(row: Record<string, unknown>): DeployRow {
  return {
    id: row.id as number,
    service: row.service as string,
    kind: row.kind as DeployRow['kind'],
    fromRelease: row.from_release as string | null,
    toRelease: row.to_release as string,
    fixId: row.fix_id as number | null,
    targetTemplateId: row.target_template_id as number | null,
    status: row.status as DeployStatus,
    reason: row.reason as string | null,
    actor: row.actor as string | null,
    startedAt: row.started_at as number,
    readyAt: row.ready_at as number | null,
    windowEndsAt: row.window_ends_at as number | null,
    finishedAt: row.finished_at as number | null,
    extensions: row.extensions as number,
    verdict: row.verdict ? JSON.parse(row.verdict as string) : null,
  };
}
