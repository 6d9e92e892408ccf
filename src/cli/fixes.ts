/**
 * `dancer fixes list|show ID|diff ID|approve ID|reject ID --reason TEXT|retry ID`: the fixes
 * Dancer proposed, their gate runs and history; humans approve, reject and ask for retries here.
 * Approve and reject record who did it (`--by`, default the OS user).
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { provenanceLines, provenanceOf } from '../dashboard/index.js';
import { DancerError } from '../errors.js';
import {
  approveFix,
  type FixRecord,
  type FixState,
  fixEvents,
  gateSteps,
  getFix,
  git,
  isFixState,
  isTerminal,
  listFixes,
  rejectFix,
  requestRetry,
} from '../fixes/index.js';
import { beforeAfterRows } from '../notify/index.js';
import { type Db, openStore } from '../store/index.js';
import { refuseWhileStopped } from '../supervise/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { type Colors, makeColors, printJson, progress, renderTable } from './output.js';

interface FixesOptions extends GlobalOptions {
  by?: string;
  reason?: string;
  state?: string;
  limit?: string;
  repo?: string;
  stat?: boolean;
}

/** The OS user name, the default `--by`. */
export function defaultActorName(): string {
  const fromEnv = process.env.USER || process.env.LOGNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

function parseId(raw: string): number {
  const id = Number(raw.replace(/^#/, ''));
  if (!Number.isInteger(id) || id <= 0) throw new DancerError('DANCER_USAGE', `Not a fix id: "${raw}"`);
  return id;
}

function withDb<T>(options: GlobalOptions, readonly: boolean, fn: (db: Db) => T): T {
  const loaded = configFor(options);
  const file = dbPathFor(options, loaded);
  if (readonly && !existsSync(file)) {
    throw new DancerError('DANCER_NOT_FOUND', `No database at ${file}: no fixes yet (or pass --db)`, {
      details: { file },
    });
  }
  const db = openStore(file, { readonly });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

async function withDbAsync<T>(options: GlobalOptions, fn: (db: Db) => Promise<T>): Promise<T> {
  const loaded = configFor(options);
  const db = openStore(dbPathFor(options, loaded));
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}

/** The repository a command works on: `--repo`, else `fixes.repo` from the config. */
export function repoFor(options: GlobalOptions & { repo?: string }): string {
  const loaded = configFor(options);
  return options.repo ? loaded.resolve(options.repo) : loaded.resolve(loaded.config.fixes.repo);
}

function stateColor(c: Colors, state: string): string {
  if (state === 'deployed') return c.green(state);
  if (state === 'failed' || state === 'rolled_back') return c.red(state);
  if (state === 'rejected' || state === 'superseded') return c.dim(state);
  if (state === 'awaiting_approval') return c.yellow(state);
  return c.cyan(state);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
}

function listCommand(options: FixesOptions): void {
  const states = options.state?.split(',').map((s) => s.trim()) ?? [];
  for (const s of states) {
    if (!isFixState(s)) throw new DancerError('DANCER_USAGE', `Unknown state "${s}"`, { details: { state: s } });
  }
  const limit = options.limit ? Number(options.limit) : 50;
  if (!Number.isInteger(limit) || limit <= 0)
    throw new DancerError('DANCER_USAGE', `--limit must be a positive integer`);
  withDb(options, true, (db) => {
    const fixes = listFixes(db, { states: states as FixState[], limit });
    if (options.json) {
      printJson(fixes);
      return;
    }
    if (fixes.length === 0) {
      process.stdout.write('No fixes.\n');
      return;
    }
    const c = makeColors();
    const rows = fixes.map((f) => [
      String(f.id),
      stateColor(c, f.state),
      iso(f.createdAt),
      f.patternId,
      f.risk ?? '-',
      `$${f.costUsd.toFixed(4)}`,
      (f.summary ?? f.reason ?? '').split('\n')[0]?.slice(0, 80) ?? '',
    ]);
    process.stdout.write(renderTable(['ID', 'STATE', 'CREATED (UTC)', 'PATTERN', 'RISK', 'COST', 'SUMMARY'], rows, c));
  });
}

function showCommand(rawId: string, options: FixesOptions): void {
  const id = parseId(rawId);
  withDb(options, true, (db) => {
    const fix = getFix(db, id);
    const events = fixEvents(db, id);
    const steps = gateSteps(db, id);
    const provenance = provenanceOf(db, id);
    if (options.json) {
      printJson({ fix, events, gateSteps: steps, provenance });
      return;
    }
    const c = makeColors();
    const out: string[] = [];
    out.push(`${c.bold(`Fix ${fix.id}`)}  ${stateColor(c, fix.state)}  (${fix.kind})`);
    out.push(`${c.dim('pattern')}      ${fix.patternId}${fix.patternText ? `  ${fix.patternText}` : ''}`);
    const field = (name: string, value: string | number | null | undefined) => {
      if (value !== null && value !== undefined && value !== '') out.push(`${c.dim(name.padEnd(12))} ${value}`);
    };
    field('summary', fix.summary);
    field('root cause', fix.rootCause);
    field('analysis', fix.analysis);
    field(
      'risk',
      fix.risk === null ? null : `${fix.risk}${fix.confidence !== null ? ` (confidence ${fix.confidence})` : ''}`,
    );
    field('cost', `$${fix.costUsd.toFixed(4)}`);
    field('branch', fix.branch);
    field('worktree', fix.worktree);
    field('base', fix.baseCommit?.slice(0, 12));
    field('head', fix.headCommit?.slice(0, 12));
    field('merge', fix.mergeCommit?.slice(0, 12));
    field('tag', fix.beforeTag);
    field('rollback', fix.rollbackBranch ? `${fix.rollbackBranch} ${fix.rollbackCommit?.slice(0, 12) ?? ''}` : null);
    field('size', fix.filesChanged === null ? null : `${fix.filesChanged} files, ${fix.linesChanged} lines`);
    field('regression', fix.regressionTest);
    field('repairs', fix.repairRounds || null);
    field('retry of', fix.retryOf);
    if (fix.failedStep) field('failed at', fix.failedStep);
    out.push('', c.bold('Provenance'));
    out.push(...provenanceLines(provenance).map((l) => `  ${l}`));
    for (const d of provenance.deploys.filter((x) => x.before || x.after)) {
      out.push(`  deploy #${d.id} before/after:`);
      for (const r of beforeAfterRows(d.before, d.after)) {
        out.push(`    ${r.label.padEnd(15)} ${r.before.padStart(14)} -> ${r.after.padStart(14)}  ${r.change}`);
      }
    }
    out.push('', c.bold('History'));
    for (const e of events) {
      out.push(
        `  ${iso(e.ts)}  ${(e.fromState ?? '-').padEnd(17)} -> ${stateColor(c, e.toState).padEnd(17)}  ${e.actor}: ${e.reason.split('\n')[0]}`,
      );
      for (const more of e.reason.split('\n').slice(1)) out.push(`${' '.repeat(8)}${more}`);
    }
    if (steps.length > 0) {
      out.push('', c.bold('Gate'));
      for (const s of steps) {
        const status = s.ok ? c.green('ok') : c.red(s.timedOut ? 'timeout' : `exit ${s.exitCode ?? s.signal}`);
        out.push(
          `  round ${s.round}  ${s.name.padEnd(16)} ${status}  ${(s.durationMs / 1000).toFixed(1)} s  ${c.dim(s.note ?? s.command)}`,
        );
      }
      const failed = steps.filter((s) => !s.ok).at(-1);
      if (failed?.outputTail) {
        out.push('', c.bold(`Output of ${failed.name} (tail)`));
        out.push(
          ...failed.outputTail
            .trimEnd()
            .split('\n')
            .slice(-40)
            .map((l) => `  ${l}`),
        );
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
  });
}

async function diffCommand(rawId: string, options: FixesOptions): Promise<void> {
  const id = parseId(rawId);
  const fix = withDb(options, true, (db) => getFix(db, id));
  if (!fix.baseCommit || !fix.headCommit) {
    throw new DancerError('DANCER_NOT_FOUND', `Fix ${id} has no commit yet (state ${fix.state})`, { details: { id } });
  }
  const repo = repoFor(options);
  const args = [
    'diff',
    '--no-ext-diff',
    '--no-textconv',
    '--text',
    '-M',
    options.stat ? '--stat' : '--patch',
    fix.baseCommit,
    fix.headCommit,
  ];
  if (makeColors().enabled) args.splice(1, 0, '--color=always');
  const r = await git(repo, args);
  if (options.json) printJson({ id, base: fix.baseCommit, head: fix.headCommit, branch: fix.branch, diff: r.stdout });
  else process.stdout.write(r.stdout.endsWith('\n') || r.stdout === '' ? r.stdout : `${r.stdout}\n`);
}

function printFix(fix: FixRecord, options: FixesOptions, message: string): void {
  if (options.json) printJson(fix);
  else process.stdout.write(`${message}\n`);
}

async function approveCommand(rawId: string, options: FixesOptions): Promise<void> {
  const id = parseId(rawId);
  const by = options.by ?? defaultActorName();
  const fix = await withDbAsync(options, (db) => {
    refuseWhileStopped(db, `approve fix ${id}`);
    return approveFix({ db }, id, by, options.reason ?? '');
  });
  printFix(fix, options, `Fix ${id} approved by ${by}; the supervisor merges and deploys it.`);
}

async function rejectCommand(rawId: string, options: FixesOptions): Promise<void> {
  const id = parseId(rawId);
  if (!options.reason?.trim()) throw new DancerError('DANCER_USAGE', 'reject needs --reason TEXT');
  const by = options.by ?? defaultActorName();
  const fix = await withDbAsync(options, (db) => {
    refuseWhileStopped(db, `reject fix ${id}`);
    return rejectFix({ db }, id, by, options.reason as string);
  });
  printFix(fix, options, `Fix ${id} rejected by ${by}: ${options.reason}`);
}

function retryCommand(rawId: string, options: FixesOptions): void {
  const id = parseId(rawId);
  const by = options.by ?? defaultActorName();
  const request = withDb(options, false, (db) => {
    refuseWhileStopped(db, `retry fix ${id}`);
    const fix = getFix(db, id);
    if (!isTerminal(fix.state)) {
      throw new DancerError('DANCER_USAGE', `Fix ${id} is ${fix.state}; only a finished fix can be retried`, {
        details: { id, state: fix.state },
      });
    }
    return requestRetry(db, id, by, options.reason ?? '', Date.now());
  });
  if (options.json) printJson(request);
  else {
    process.stdout.write(`Retry of fix ${id} requested by ${by} (request ${request.id}).\n`);
    progress('The supervisor starts a new consultation, told why the last attempt failed, when it next runs.');
  }
}

/** Register `dancer fixes`. */
export function register(program: Command): void {
  const fixes = program
    .command('fixes')
    .description('Fixes Dancer proposed: list, inspect, diff, approve, reject, retry.');
  const common = (cmd: Command) => withDbOption(cmd).option('--json', 'print JSON on stdout');
  common(
    fixes
      .command('list', { isDefault: true })
      .description('List fixes, newest first.')
      .option('--state <states>', 'only these states (comma-separated, e.g. awaiting_approval,failed)')
      .option('--limit <n>', 'at most N fixes', '50'),
  ).action((options: FixesOptions) => listCommand(options));
  common(fixes.command('show <id>').description('A fix with its history and gate steps.')).action(
    (id: string, options: FixesOptions) => showCommand(id, options),
  );
  common(
    fixes
      .command('diff <id>')
      .description("The fix's change: its base commit against its branch tip.")
      .option('--repo <dir>', 'service repository (default: fixes.repo from dancer.yaml)')
      .option('--stat', 'only the changed files and line counts'),
  ).action((id: string, options: FixesOptions) => diffCommand(id, options));
  common(
    fixes
      .command('approve <id>')
      .description('Approve a fix that waits for approval; the supervisor then merges and deploys it.')
      .option('--by <name>', 'who approves (default: the OS user)')
      .option('--reason <text>', 'a note for the record'),
  ).action((id: string, options: FixesOptions) => approveCommand(id, options));
  common(
    fixes
      .command('reject <id>')
      .description('Reject a fix that has not been deployed, with a reason.')
      .requiredOption('--reason <text>', 'why (recorded, shown in the changelog)')
      .option('--by <name>', 'who rejects (default: the OS user)'),
  ).action((id: string, options: FixesOptions) => rejectCommand(id, options));
  common(
    fixes
      .command('retry <id>')
      .description('Ask for a new attempt at a finished fix; the agent is told why the last one failed.')
      .option('--by <name>', 'who asks (default: the OS user)')
      .option('--reason <text>', 'what the next attempt should do differently'),
  ).action((id: string, options: FixesOptions) => retryCommand(id, options));
}
