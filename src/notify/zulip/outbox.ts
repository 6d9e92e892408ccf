/**
 * The outbox: every message for Zulip is a row in `outbox` before anything is sent, so a Zulip
 * outage or a restart loses nothing and the caller never waits on the network. This module is
 * the table access ({@link OutboxStore}) and the pure delivery planner ({@link planDelivery}).
 */
import type { Statement } from 'better-sqlite3';
import { redactTemplateForSinks } from '../../redact/index.js';
import type { Db } from '../../store/index.js';
import { collapseBacklog } from './format.js';

/** What a row asks for. */
export type OutboxOp = 'post' | 'edit' | 'react' | 'unreact';

/** What a post is, for reactions (which rows stand for a fix) and collapsing. */
export type OutboxRole = 'head' | 'proposal' | 'approval' | 'reply' | 'status' | 'command' | 'digest';

/** A row of `outbox`. */
export interface OutboxItem {
  id: number;
  createdAt: number;
  op: OutboxOp;
  dest: 'stream' | 'direct';
  stream: string | null;
  topic: string | null;
  toUsers: number[] | null;
  /** Message text, or the emoji name for react/unreact. */
  content: string;
  refKey: string | null;
  targetKey: string | null;
  fixId: number | null;
  role: OutboxRole;
  collapsible: boolean;
  state: 'pending' | 'sent' | 'failed' | 'merged' | 'superseded';
  attempts: number;
  lastError: string | null;
  zulipId: number | null;
}

/** A new row. */
export interface OutboxInput {
  op?: OutboxOp;
  dest: 'stream' | 'direct';
  stream?: string;
  topic?: string;
  toUsers?: number[];
  content: string;
  refKey?: string;
  targetKey?: string;
  fixId?: number;
  role?: OutboxRole;
  /** May be merged with neighbours in a backlog (default: true for replies and status). */
  collapsible?: boolean;
}

function toItem(row: Record<string, unknown>): OutboxItem {
  return {
    id: row.id as number,
    createdAt: row.created_at as number,
    op: row.op as OutboxOp,
    dest: row.dest as 'stream' | 'direct',
    stream: row.stream as string | null,
    topic: row.topic as string | null,
    toUsers: row.to_users === null ? null : (JSON.parse(row.to_users as string) as number[]),
    content: row.content as string,
    refKey: row.ref_key as string | null,
    targetKey: row.target_key as string | null,
    fixId: row.fix_id as number | null,
    role: row.role as OutboxRole,
    collapsible: row.collapsible === 1,
    state: row.state as OutboxItem['state'],
    attempts: row.attempts as number,
    lastError: row.last_error as string | null,
    zulipId: row.zulip_id as number | null,
  };
}

/** Table access for `outbox`. Synchronous; one instance per database handle. */
export class OutboxStore {
  private readonly insert;

  constructor(
    readonly db: Db,
    private readonly clock: () => number = Date.now,
  ) {
    this.insert = db.prepare(
      `INSERT INTO outbox (created_at, op, dest, stream, topic, to_users, content, ref_key, target_key, fix_id, role, collapsible)
       VALUES (@createdAt, @op, @dest, @stream, @topic, @toUsers, @content, @refKey, @targetKey, @fixId, @role, @collapsible)`,
    );
  }

  private readonly statements = new Map<string, Statement<unknown[]>>();

  /** A prepared statement, compiled once per store. */
  private sql(text: string): Statement<unknown[]> {
    let stmt = this.statements.get(text);
    if (!stmt) {
      stmt = this.db.prepare(text);
      this.statements.set(text, stmt);
    }
    return stmt;
  }

  /** Add a row; returns its id. One INSERT: cheap enough for any caller. */
  enqueue(input: OutboxInput): number {
    const role = input.role ?? 'reply';
    const op = input.op ?? 'post';
    const collapsible =
      input.collapsible ?? (op === 'post' && (role === 'reply' || role === 'status') && !input.refKey);
    const info = this.insert.run({
      createdAt: this.clock(),
      op,
      dest: input.dest,
      stream: input.stream ?? null,
      // The last line of defence: nothing reaches Zulip (or this table) with a secret in clear.
      topic: input.topic === undefined ? null : redactTemplateForSinks(input.topic),
      toUsers: input.toUsers ? JSON.stringify(input.toUsers) : null,
      content: redactTemplateForSinks(input.content),
      refKey: input.refKey ?? null,
      targetKey: input.targetKey ?? null,
      fixId: input.fixId ?? null,
      role,
      collapsible: collapsible ? 1 : 0,
    });
    return Number(info.lastInsertRowid);
  }

  /** Pending rows, oldest first. */
  pending(limit = 500): OutboxItem[] {
    return (
      this.sql("SELECT * FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?").all(limit) as Array<
        Record<string, unknown>
      >
    ).map(toItem);
  }

  /** One row. */
  get(id: number): OutboxItem | undefined {
    const row = this.sql('SELECT * FROM outbox WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row ? toItem(row) : undefined;
  }

  /** All rows (tests, `dancer` CLI), oldest first. */
  all(): OutboxItem[] {
    return (this.sql('SELECT * FROM outbox ORDER BY id').all() as Array<Record<string, unknown>>).map(toItem);
  }

  /** The latest delivered post named `key`: its row (with the Zulip message id). */
  resolveRef(key: string): OutboxItem | undefined {
    const row = this.sql(
      "SELECT * FROM outbox WHERE ref_key = ? AND state = 'sent' AND zulip_id IS NOT NULL ORDER BY id DESC LIMIT 1",
    ).get(key) as Record<string, unknown> | undefined;
    return row ? toItem(row) : undefined;
  }

  /** Is there a post named `key` (delivered or still pending)? */
  hasRef(key: string): boolean {
    return (
      this.sql("SELECT 1 FROM outbox WHERE ref_key = ? AND state IN ('pending', 'sent') LIMIT 1").get(key) !== undefined
    );
  }

  /** Which fix (and which of its posts) a Zulip message id is, if the bot posted it. */
  fixForMessage(zulipId: number): { fixId: number; role: OutboxRole } | undefined {
    const row = this.sql(
      "SELECT fix_id, role FROM outbox WHERE zulip_id = ? AND op = 'post' AND fix_id IS NOT NULL ORDER BY id DESC LIMIT 1",
    ).get(zulipId) as { fix_id: number; role: OutboxRole } | undefined;
    return row ? { fixId: row.fix_id, role: row.role } : undefined;
  }

  /** The topic already used for a fix (so every later message goes to the same topic). */
  topicForFix(fixId: number): string | undefined {
    const row = this.sql(
      "SELECT topic FROM outbox WHERE fix_id = ? AND dest = 'stream' AND topic IS NOT NULL ORDER BY id LIMIT 1",
    ).get(fixId) as { topic: string } | undefined;
    return row?.topic;
  }

  /** When the last digest was queued. */
  lastCreatedWithRole(role: OutboxRole): number | undefined {
    const row = this.sql('SELECT max(created_at) AS t FROM outbox WHERE role = ?').get(role) as {
      t: number | null;
    };
    return row.t ?? undefined;
  }

  /** Count rows per state. */
  counts(): Record<OutboxItem['state'], number> {
    const result = { pending: 0, sent: 0, failed: 0, merged: 0, superseded: 0 };
    for (const row of this.sql('SELECT state, count(*) AS n FROM outbox GROUP BY state').all() as Array<{
      state: OutboxItem['state'];
      n: number;
    }>) {
      result[row.state] = row.n;
    }
    return result;
  }

  /** Mark rows delivered (the first as `sent`, the others as `merged` into it). */
  markSent(ids: readonly number[], zulipId: number | null, now = this.clock()): void {
    const [primary, ...rest] = ids;
    if (primary === undefined) return;
    this.db.transaction(() => {
      this.sql(
        "UPDATE outbox SET state = 'sent', sent_at = ?, zulip_id = ?, attempts = attempts + 1, last_attempt_at = ? WHERE id = ?",
      ).run(now, zulipId, now, primary);
      const merged = this.sql(
        "UPDATE outbox SET state = 'merged', merged_into = ?, sent_at = ?, zulip_id = ?, last_attempt_at = ? WHERE id = ?",
      );
      for (const id of rest) merged.run(primary, now, zulipId, now, id);
    })();
  }

  /** A post delivered in place of an edit (the edit was refused): the row now names that post. */
  markSentAsPost(id: number, refKey: string, zulipId: number, now = this.clock()): void {
    this.sql(
      "UPDATE outbox SET op = 'post', state = 'sent', sent_at = ?, zulip_id = ?, ref_key = ?, attempts = attempts + 1, last_attempt_at = ?, last_error = 'edit refused; posted instead' WHERE id = ?",
    ).run(now, zulipId, refKey, now, id);
  }

  /** Rows made unnecessary by later rows (an older edit of the same message, folded edits). */
  markSuperseded(ids: readonly number[], by: number | null): void {
    const stmt = this.sql("UPDATE outbox SET state = 'superseded', merged_into = ? WHERE id = ?");
    this.db.transaction(() => {
      for (const id of ids) stmt.run(by, id);
    })();
  }

  /** A failed attempt that will be retried. */
  markAttempt(ids: readonly number[], error: string, now = this.clock()): void {
    const stmt = this.sql(
      'UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE id = ?',
    );
    this.db.transaction(() => {
      for (const id of ids) stmt.run(now, error, id);
    })();
  }

  /** Rows Zulip refused for good (kept, with the error, for `dancer` to show). */
  markFailed(ids: readonly number[], error: string, now = this.clock()): void {
    const stmt = this.sql(
      "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE id = ?",
    );
    this.db.transaction(() => {
      for (const id of ids) stmt.run(now, error, id);
    })();
  }

  /** Put failed rows back to pending (`dancer zulip retry`); returns the ids that were failed. */
  requeueFailed(ids: readonly number[]): number[] {
    const stmt = this.sql("UPDATE outbox SET state = 'pending', last_error = NULL WHERE id = ? AND state = 'failed'");
    return ids.filter((id) => stmt.run(id).changes > 0);
  }

  /** Replace the content a pending post will be sent with (an edit folded into it). */
  setPendingContent(id: number, content: string): void {
    this.sql("UPDATE outbox SET content = ? WHERE id = ? AND state = 'pending'").run(content, id);
  }
}

/** One step of a delivery pass. `ids` are every row the step completes. */
export type DeliveryOp =
  | {
      kind: 'post';
      ids: number[];
      dest: 'stream' | 'direct';
      stream: string | null;
      topic: string | null;
      toUsers: number[] | null;
      content: string;
      refKey: string | null;
      fixId: number | null;
    }
  | { kind: 'edit'; ids: number[]; targetKey: string; content: string }
  | { kind: 'react' | 'unreact'; ids: number[]; targetKey: string; emoji: string }
  /** Rows with nothing left to send: an older edit replaced by a newer one, or folded into its post. */
  | { kind: 'supersede'; ids: number[]; by: number | null }
  /** A pending post takes the content of a later edit of it (the edit is superseded). */
  | { kind: 'fold'; postId: number; content: string; editIds: number[] };

/** Options for {@link planDelivery}. */
export interface PlanOptions {
  now: number;
  /** Merge consecutive replies in a topic when the oldest pending row is at least this old. */
  collapseAfterMs: number;
  maxLength: number;
}

/**
 * Plan one delivery pass over the pending rows (oldest first). Pure.
 *
 * - Order is kept: steps come in the order of their first row.
 * - Of several pending edits of one message only the newest is sent; if the message itself is
 *   still pending, the newest edit's content is folded into it and no edit is sent.
 * - In a backlog (oldest row older than `collapseAfterMs`), consecutive collapsible replies to
 *   the same topic are merged into one message when they fit, each part keeping its time.
 */
export function planDelivery(pending: readonly OutboxItem[], options: PlanOptions): DeliveryOp[] {
  const ops: DeliveryOp[] = [];
  const lastEditOf = new Map<string, OutboxItem>();
  for (const item of pending) if (item.op === 'edit' && item.targetKey) lastEditOf.set(item.targetKey, item);
  const pendingPostByRef = new Map<string, OutboxItem>();
  for (const item of pending) if (item.op === 'post' && item.refKey) pendingPostByRef.set(item.refKey, item);

  const backlog = pending.length > 1 && options.now - pending[0]!.createdAt >= options.collapseAfterMs;
  for (const item of pending) {
    if (item.op === 'edit') {
      const target = item.targetKey ?? '';
      const newest = lastEditOf.get(target);
      const post = pendingPostByRef.get(target);
      if (post && post.id < item.id) {
        if (newest === item) ops.push({ kind: 'fold', postId: post.id, content: item.content, editIds: [item.id] });
        else ops.push({ kind: 'supersede', ids: [item.id], by: post.id });
        continue;
      }
      if (newest !== item) {
        ops.push({ kind: 'supersede', ids: [item.id], by: newest?.id ?? null });
        continue;
      }
      ops.push({ kind: 'edit', ids: [item.id], targetKey: target, content: item.content });
      continue;
    }
    if (item.op === 'react' || item.op === 'unreact') {
      ops.push({ kind: item.op, ids: [item.id], targetKey: item.targetKey ?? '', emoji: item.content });
      continue;
    }
    ops.push(postOp(item, item.content));
  }
  const folded = foldEdits(ops);
  return backlog ? collapseRuns(folded, pending, options.maxLength) : folded;
}

/** Apply `fold` steps to their pending posts (the post goes out with the newest content). */
function foldEdits(ops: DeliveryOp[]): DeliveryOp[] {
  const contentOf = new Map<number, string>();
  for (const op of ops) if (op.kind === 'fold') contentOf.set(op.postId, op.content);
  if (contentOf.size === 0) return ops;
  return ops.map((op) => {
    if (op.kind !== 'post') return op;
    const content = contentOf.get(op.ids[0]!);
    return content === undefined ? op : { ...op, content };
  });
}

function postOp(item: OutboxItem, content: string): Extract<DeliveryOp, { kind: 'post' }> {
  return {
    kind: 'post',
    ids: [item.id],
    dest: item.dest,
    stream: item.stream,
    topic: item.topic,
    toUsers: item.toUsers,
    content,
    refKey: item.refKey,
    fixId: item.fixId,
  };
}

/**
 * Rebuild the op list with backlog collapsing: walk the pending rows again and merge runs of
 * collapsible posts per destination (a non-collapsible post to the same destination ends a run).
 */
function collapseRuns(ops: DeliveryOp[], pending: readonly OutboxItem[], max: number): DeliveryOp[] {
  const byId = new Map(pending.map((i) => [i.id, i]));
  const destKey = (i: OutboxItem) =>
    i.dest === 'stream' ? `s:${i.stream}\u0000${i.topic}` : `d:${JSON.stringify(i.toUsers)}`;
  // Assign each collapsible post to a run.
  const runOf = new Map<number, number>();
  const runs: OutboxItem[][] = [];
  const openRun = new Map<string, number>();
  for (const item of pending) {
    if (item.op !== 'post') continue;
    const key = destKey(item);
    if (!item.collapsible) {
      openRun.delete(key);
      continue;
    }
    let run = openRun.get(key);
    if (run === undefined) {
      run = runs.length;
      runs.push([]);
      openRun.set(key, run);
    }
    runs[run]!.push(item);
    runOf.set(item.id, run);
  }
  const result: DeliveryOp[] = [];
  for (const op of ops) {
    if (op.kind !== 'post') {
      result.push(op);
      continue;
    }
    const id = op.ids[0]!;
    const run = runOf.get(id);
    if (run === undefined) {
      result.push(op);
      continue;
    }
    const members = runs[run]!;
    if (members[0]!.id !== id) continue; // merged into the run's first op
    if (members.length === 1) {
      result.push(op);
      continue;
    }
    // Greedy chunks that fit.
    let chunk: OutboxItem[] = [];
    const flush = () => {
      if (chunk.length === 0) return;
      const first = chunk[0]!;
      const content =
        chunk.length === 1
          ? first.content
          : (collapseBacklog(
              chunk.map((c) => ({ content: c.content, createdAt: c.createdAt })),
              max,
            ) ?? first.content);
      const merged = postOp(byId.get(first.id)!, content);
      merged.ids = chunk.map((c) => c.id);
      result.push(merged);
      chunk = [];
    };
    for (const member of members) {
      const candidate = [...chunk, member];
      const fits =
        candidate.length === 1 ||
        collapseBacklog(
          candidate.map((c) => ({ content: c.content, createdAt: c.createdAt })),
          max,
        ) !== undefined;
      if (!fits) flush();
      chunk.push(member);
    }
    flush();
  }
  return result;
}
