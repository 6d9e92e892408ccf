/**
 * Which releases served well and which were rolled back, and which release each worker ran
 * (tables `releases.good_at/bad_at` and `worker_releases`). A release id is the git tree of the
 * commit it was built from, so the same code is the same release whatever commit names it.
 */
import type { Db } from '../store/index.js';

/** The quality marks and worker map of one service's releases. */
export class ReleaseQuality {
  constructor(
    private readonly db: Db,
    private readonly service: string,
  ) {}

  /** Record that `release` served well (first release, passed window, accepted). Keeps the first time. */
  markGood(release: string, at: number): void {
    this.db
      .prepare('UPDATE releases SET good_at = COALESCE(good_at, ?) WHERE service = ? AND id = ?')
      .run(at, this.service, release);
  }

  /** Record that `release` was rolled back, and why. */
  markBad(release: string, at: number, reason: string): void {
    this.db
      .prepare('UPDATE releases SET bad_at = ?, bad_reason = ? WHERE service = ? AND id = ?')
      .run(at, reason, this.service, release);
  }

  /** True when `release` served as a good release and was never rolled back since. */
  isGood(release: string): boolean {
    const row = this.db
      .prepare('SELECT good_at AS g, bad_at AS b FROM releases WHERE service = ? AND id = ?')
      .get(this.service, release) as { g: number | null; b: number | null } | undefined;
    return !!row && row.g !== null && (row.b === null || row.b < row.g);
  }

  /** The good release marked most recently, other than `except`. */
  newestGood(except: string): string | undefined {
    const row = this.db
      .prepare(
        `SELECT id FROM releases WHERE service = ? AND id <> ? AND status = 'ready' AND good_at IS NOT NULL
           AND (bad_at IS NULL OR bad_at < good_at) ORDER BY good_at DESC LIMIT 1`,
      )
      .get(this.service, except) as { id: string } | undefined;
    return row?.id;
  }

  /** True when `release` was rolled back. */
  isBad(release: string): boolean {
    const row = this.db
      .prepare('SELECT bad_at AS b FROM releases WHERE service = ? AND id = ?')
      .get(this.service, release) as { b: number | null } | undefined;
    return row?.b != null;
  }

  /** Remember which release worker `pid` runs. */
  recordWorker(pid: number, release: string, startedAt: number, staged = false): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO worker_releases (service, pid, release, started_at, staged) VALUES (?, ?, ?, ?, ?)',
      )
      .run(this.service, pid, release, startedAt, staged ? 1 : 0);
  }

  /** The release worker `pid` ran at time `at` (the latest worker with that pid started before `at`). */
  releaseOfPid(pid: number, at = Number.MAX_SAFE_INTEGER): string | undefined {
    const row = this.db
      .prepare(
        'SELECT release FROM worker_releases WHERE service = ? AND pid = ? AND started_at <= ? ORDER BY started_at DESC LIMIT 1',
      )
      .get(this.service, pid, at) as { release: string } | undefined;
    return row?.release;
  }
}

/**
 * The releases that logged records of `templateId` (through the pids of the records), for any
 * service. Records whose pid maps to no worker give `undefined` in the list.
 */
export function releasesThatLogged(db: Db, templateId: number): Array<string | undefined> {
  const rows = db
    .prepare(
      `SELECT DISTINCT (SELECT w.release FROM worker_releases w WHERE w.pid = l.pid AND w.started_at <= l.ts
                        ORDER BY w.started_at DESC LIMIT 1) AS release
       FROM logs l WHERE l.template_id = ?`,
    )
    .all(templateId) as Array<{ release: string | null }>;
  return rows.map((r) => r.release ?? undefined);
}

/** True when `release` of any service was rolled back. */
export function isRolledBackRelease(db: Db, release: string): boolean {
  return db.prepare('SELECT 1 FROM releases WHERE id = ? AND bad_at IS NOT NULL').get(release) !== undefined;
}
