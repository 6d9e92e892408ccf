/**
 * `dancer top [--once] [--json]`: a terminal view of the supervised service, like `pm2 monit`:
 * workers with pid/RSS/CPU, request and error sparklines, the deploy under observation, open
 * fixes and recent decisions, redrawn as the store changes. Keys approve or reject the selected
 * fix, stop and resume. `--once` prints one frame and exits.
 */
import { existsSync } from 'node:fs';
import { emitKeypressEvents } from 'node:readline';
import type { Command } from 'commander';
import { type DashboardAction, performAction, queries as q } from '../dashboard/index.js';
import { DancerError, errorMessage } from '../errors.js';
import { createLiveActions } from '../heal/index.js';
import { watchStore } from '../notify/index.js';
import { type Db, openStore } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { defaultActorName } from './fixes.js';
import { makeColors, printJson } from './output.js';
import { renderTopFrame, type TopData } from './top-frame.js';

interface TopOptions extends GlobalOptions {
  once?: boolean;
  interval?: string;
}

/** Read one frame's data from the store. */
export function topData(db: Db, service: string, now: number): TopData {
  const s = q.status(db, service, now);
  const latest = new Map<number, { rss?: number; cpu?: number }>();
  for (const m of s.workerMetrics) {
    if (m.pid === null) continue;
    const e = latest.get(m.pid) ?? {};
    if (m.name === 'rss_bytes') e.rss = m.value;
    else e.cpu = m.value;
    latest.set(m.pid, e);
  }
  const o = s.observing;
  return {
    at: now,
    service: s.service,
    state: s.state,
    running: s.running,
    supervisorPid: s.supervisorPid,
    uptimeSeconds: s.uptimeSeconds,
    restarts: s.restarts,
    currentRelease: s.currentRelease,
    emergencyStop: {
      engaged: s.emergencyStop.engaged,
      setBy: s.emergencyStop.setBy,
      reason: s.emergencyStop.reason,
    },
    workers: s.workers.map((w) => {
      const m = latest.get(w.pid);
      return {
        pid: w.pid,
        role: w.role,
        release: w.release,
        rssMb: m?.rss === undefined ? null : m.rss / 1_048_576,
        cpuPercent: m?.cpu ?? null,
      };
    }),
    requestsPerMin: s.traffic.requests.some((n) => n > 0) ? s.traffic.requests : s.traffic.records,
    errorsPerMin: s.traffic.errors,
    observing: o
      ? {
          deployId: o.id,
          release: o.toRelease,
          fixId: o.fixId,
          status: o.status,
          windowEndsAt: o.windowEndsAt,
          reasons: o.reasons,
        }
      : null,
    openFixes: s.openFixes,
    decisions: s.decisions.map((d) => ({
      at: d.at,
      rule: d.rule,
      outcome: d.outcome,
      templateId: d.templateId ?? null,
      reason: d.reason,
    })),
  };
}

function openDb(options: TopOptions): { db: Db; service: string } {
  const loaded = configFor(options);
  const file = dbPathFor(options, loaded);
  if (!existsSync(file)) throw new DancerError('DANCER_NOT_FOUND', `No database at ${file}.`, { details: { file } });
  const db = openStore(file);
  const service = loaded.config.service?.name ?? q.storedServiceName(db) ?? 'service';
  return { db, service };
}

async function interactive(db: Db, service: string, intervalMs: number): Promise<void> {
  const out = process.stdout;
  const input = process.stdin;
  const colors = makeColors(out);
  const actions = createLiveActions({ db, service });
  const actor = defaultActorName();
  const watcher = watchStore(db);
  let selected = 0;
  let message: string | undefined;
  let data = topData(db, service, Date.now());
  const draw = () => {
    data = topData(db, service, Date.now());
    selected = Math.max(0, Math.min(selected, data.openFixes.length - 1));
    const frame = renderTopFrame({ ...data, message }, colors, out.columns || 100, selected);
    out.write(`\x1b[H\x1b[2J${frame.slice(0, Math.max(5, (out.rows || 40) - 1)).join('\n')}`);
  };
  const act = async (action: DashboardAction) => {
    try {
      const answer = await performAction({ db, actions }, action, actor, 'cli');
      message = colors.green(answer.message);
    } catch (error) {
      message = colors.red(errorMessage(error));
    }
    watcher.poll();
    draw();
  };
  out.write('\x1b[?1049h\x1b[?25l');
  const unsubscribe = watcher.subscribe(() => draw());
  const timer = setInterval(draw, intervalMs);
  draw();
  emitKeypressEvents(input);
  if (input.isTTY) input.setRawMode(true);
  input.resume();
  await new Promise<void>((resolve) => {
    const onKey = (_: string, key: { name?: string; ctrl?: boolean } | undefined) => {
      const name = key?.name ?? _;
      const fix = data.openFixes[selected];
      if (name === 'q' || name === 'escape' || (key?.ctrl && name === 'c')) {
        input.off('keypress', onKey);
        resolve();
      } else if (name === 'up' || name === 'k') {
        selected = Math.max(0, selected - 1);
        draw();
      } else if (name === 'down' || name === 'j') {
        selected = Math.min(Math.max(0, data.openFixes.length - 1), selected + 1);
        draw();
      } else if (name === 'a') {
        if (fix) void act({ kind: 'approve', fixId: fix.id });
      } else if (name === 'r') {
        if (fix) void act({ kind: 'reject', fixId: fix.id, reason: `rejected in dancer top by ${actor}` });
      } else if (name === 's') {
        void act({ kind: 'stop', reason: `stopped in dancer top by ${actor}` });
      } else if (name === 'u') {
        void act({ kind: 'resume' });
      }
    };
    input.on('keypress', onKey);
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(timer);
  unsubscribe();
  watcher.close();
  if (input.isTTY) input.setRawMode(false);
  input.pause();
  out.write('\x1b[?25h\x1b[?1049l');
}

/** Register `dancer top`. */
export function register(program: Command): void {
  withDbOption(
    program
      .command('top')
      .description(
        'Terminal view of the service (workers, traffic, observation, open fixes, decisions); keys approve, reject, stop, resume.',
      ),
  )
    .option('--once', 'print one frame and exit')
    .option('--json', 'with --once: print the frame data as JSON')
    .option('--interval <ms>', 'redraw at least this often, ms', '1000')
    .action(async (options: TopOptions) => {
      const interval = Number(options.interval);
      if (!Number.isInteger(interval) || interval < 100) {
        throw new DancerError(
          'DANCER_USAGE',
          `--interval wants milliseconds (100 or more), got "${options.interval}".`,
        );
      }
      if (options.json && !options.once) throw new DancerError('DANCER_USAGE', '--json needs --once.');
      const { db, service } = openDb(options);
      try {
        if (options.once) {
          const data = topData(db, service, Date.now());
          if (options.json) printJson(data);
          else
            process.stdout.write(`${renderTopFrame(data, makeColors(), process.stdout.columns || 100).join('\n')}\n`);
          return;
        }
        await interactive(db, service, interval);
      } finally {
        db.close();
      }
    });
}
