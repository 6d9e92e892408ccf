/**
 * The common end of every fault scenario: wait until the service settles, keep it answering a
 * while, then measure (where it ends, its audit rows, detect/recover times, requests answered
 * and dropped) and record the row in test/faults/results.json and docs/reliability.md. The row is
 * written before the scenario's assertions, so a scenario that fails still shows in the table.
 */
import { expect } from 'vitest';
import { waitFor } from '../e2e/helpers.js';
import type { DeployRow, ShopStack } from './fixture.js';
import { type FaultResult, SCENARIOS, writeResult } from './table.js';

/** The audit trail of the run: fix transitions with their actors, then the deploy rows. */
export function auditTrail(stack: ShopStack): string {
  const events = stack.events();
  const byFix = new Map<number, string[]>();
  for (const e of events) {
    const list = byFix.get(e.fix_id) ?? [];
    list.push(e.from_state === null ? `${e.to_state}` : `${e.to_state} (${e.actor})`);
    byFix.set(e.fix_id, list);
  }
  const fixes = [...byFix.entries()].map(([id, chain]) => `fix ${id}: ${chain.join(' → ')}`);
  const deploys = stack.deploys().map((d) => `${d.kind} #${d.id} ${d.status}${d.actor ? ` by ${d.actor}` : ''}`);
  const audit = stack.query<{ action: string; actor: string; outcome: string }>(
    'SELECT action, actor, outcome FROM audit ORDER BY id',
  );
  return [
    ...fixes,
    ...(deploys.length ? [`deploys: ${deploys.join(', ')}`] : ['deploys: none']),
    ...(audit.length ? [`audit: ${audit.map((a) => `${a.action} ${a.outcome} (${a.actor})`).join(', ')}`] : []),
  ].join('; ');
}

/**
 * Detect and recover times from the store: a rollback row gives decision - bad release start,
 * and its own time to serve; a failed deploy (the old release never stopped serving) gives its
 * length and 0; otherwise the fix's life from its first to its last transition, and 0.
 */
export function figures(stack: ShopStack): { detectMs: number | null; recoverMs: number | null } {
  const deploys = stack.deploys();
  const rollback = [...deploys].reverse().find((d) => d.kind === 'rollback');
  const bad: DeployRow | undefined = [...deploys]
    .reverse()
    .find((d) => d.kind === 'deploy' && d.status !== 'succeeded');
  if (rollback && bad) {
    return {
      detectMs: rollback.started_at - (bad.ready_at ?? bad.started_at),
      recoverMs: rollback.ready_at === null ? null : rollback.ready_at - rollback.started_at,
    };
  }
  if (bad) return { detectMs: (bad.finished_at ?? bad.started_at) - bad.started_at, recoverMs: 0 };
  const events = stack.events();
  if (events.length < 2) return { detectMs: null, recoverMs: 0 };
  const submitted = events.find((e) => e.to_state === 'testing');
  const last = events[events.length - 1]!;
  return { detectMs: last.ts - (submitted?.ts ?? events[0]!.ts), recoverMs: 0 };
}

/** What the last good release is: the first commit's tree, or the tree of the fix that deployed. */
export function lastGoodTree(stack: ShopStack): { tree: string; label: string } {
  const deployed = stack.query<{ merge_commit: string }>(
    "SELECT merge_commit FROM fixes WHERE state = 'deployed' AND merge_commit IS NOT NULL ORDER BY id DESC",
  )[0];
  if (deployed) return { tree: stack.git(['rev-parse', `${deployed.merge_commit}^{tree}`]), label: 'fix' };
  return { tree: stack.baseTree, label: 'base' };
}

/** Options of {@link finish}. */
export interface FinishOptions {
  id: string;
  /** One line: what Dancer did. Default: the last fix's state and reason. */
  outcome?: string;
  startedAt: number;
  /** Override the measured figures. */
  detectMs?: number | null;
  recoverMs?: number | null;
}

/**
 * Settle, keep serving, measure, record the row; then assert the row: last good release serving
 * (also HEAD's tree), audit rows present, 0 requests dropped.
 */
export async function finish(stack: ShopStack, options: FinishOptions): Promise<FaultResult> {
  const good = lastGoodTree(stack);
  await waitFor('the last good release to serve', 30_000, () =>
    stack.currentRelease() === good.tree ? true : undefined,
  ).catch(() => undefined);
  const traffic = stack.traffic;
  if (traffic) {
    const before = traffic.stats().ok;
    await waitFor('30 more good answers', 30_000, () => (traffic.stats().ok >= before + 30 ? true : undefined)).catch(
      () => undefined,
    );
  }
  const stats = traffic ? await traffic.stop() : undefined;
  stack.traffic = undefined;
  const fixes = stack.fixes();
  const last = fixes[fixes.length - 1];
  const serving = stack.currentRelease();
  const head = stack.git(['rev-parse', 'HEAD^{tree}']);
  const measured = figures(stack);
  const scenario = SCENARIOS.find((s) => s.id === options.id);
  if (!scenario) throw new Error(`${options.id} is not in SCENARIOS`);
  const clip = (s: string) => {
    const plain = s.replaceAll(stack.repo, '.').replace(/\s+/g, ' ');
    return plain.length > 160 ? `${plain.slice(0, 157)}...` : plain;
  };
  const result: FaultResult = {
    id: options.id,
    fault: scenario.fault,
    outcome: clip(options.outcome ?? (last ? `fix ${last.state}: ${last.reason ?? ''}` : 'no fix')),
    audit: auditTrail(stack),
    fixState: last?.state ?? 'none',
    endsOn: serving === good.tree ? good.label : (serving?.slice(0, 12) ?? 'nothing'),
    onLastGood: serving === good.tree && head === good.tree,
    detectMs: options.detectMs !== undefined ? options.detectMs : measured.detectMs,
    recoverMs: options.recoverMs !== undefined ? options.recoverMs : measured.recoverMs,
    served: stats ? stats.ok + stats.clientErrors + stats.serverErrors : 0,
    failed: stats?.failed ?? 0,
    seconds: Math.round((Date.now() - options.startedAt) / 1000),
  };
  writeResult(result);
  if (stats && stats.failed > 0) console.log(timeline(stack, options.startedAt, stats.failedAt));
  expect(serving, `${options.id}: the release serving at the end\n${stack.log()}`).toBe(good.tree);
  expect(head, `${options.id}: HEAD's tree equals the serving release`).toBe(good.tree);
  expect(stack.events().length, `${options.id}: audit rows`).toBeGreaterThan(0);
  expect(stats?.failures ?? {}, `${options.id}: requests dropped`).toEqual({});
  return result;
}

/** Dropped requests beside the fix's transitions and deploy rows, ms from the scenario's start (for failure messages). */
export function timeline(
  stack: ShopStack,
  t0: number,
  failedAt: ReadonlyArray<{ sentAt: number; at: number; reason: string }>,
): string {
  const lines: Array<[number, string]> = [];
  for (const f of failedAt) lines.push([f.sentAt, `request sent, dropped at +${f.at - t0} ms (${f.reason})`]);
  for (const e of stack.events()) lines.push([e.ts, `fix ${e.fix_id} -> ${e.to_state} (${e.actor})`]);
  for (const d of stack.deploys()) {
    lines.push([d.started_at, `${d.kind} #${d.id} started`]);
    if (d.ready_at) lines.push([d.ready_at, `${d.kind} #${d.id} ready`]);
    if (d.finished_at) lines.push([d.finished_at, `${d.kind} #${d.id} ${d.status}`]);
  }
  return lines
    .sort((a, b) => a[0] - b[0])
    .map(([ts, what]) => `+${ts - t0} ms ${what}`)
    .join('\n');
}
