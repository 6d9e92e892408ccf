/**
 * One frame of `dancer top` (pure): the data read from the store in, text lines out. The
 * interactive view redraws it; `dancer top --once` prints it once.
 */
import type { Colors } from './output.js';
import { sparkline } from './patterns.js';

/** Everything a frame shows. */
export interface TopData {
  at: number;
  service: string;
  state: string;
  running: boolean;
  supervisorPid: number | null;
  uptimeSeconds: number | null;
  restarts: number;
  currentRelease: string | null;
  emergencyStop: { engaged: boolean; setBy: string | null; reason: string | null };
  workers: Array<{
    pid: number;
    role: string;
    release: string | null;
    rssMb: number | null;
    cpuPercent: number | null;
  }>;
  /** Per minute, oldest first. */
  requestsPerMin: number[];
  errorsPerMin: number[];
  observing: {
    deployId: number;
    release: string;
    fixId: number | null;
    status: string;
    windowEndsAt: number | null;
    reasons: string[];
  } | null;
  openFixes: Array<{ id: number; state: string; summary: string | null; patternId: string }>;
  decisions: Array<{ at: number; rule: string; outcome: string; templateId: number | null; reason: string }>;
  /** The last action's answer (interactive only). */
  message?: string | undefined;
}

const short = (r: string | null) => (!r ? '-' : /^[0-9a-f]{40,64}$/.test(r) ? r.slice(0, 12) : r);
const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19);

function clip(s: string, width: number): string {
  // Width counts visible characters; colour codes are kept.
  let visible = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const end = s.indexOf('m', i);
      if (end > 0) {
        out += s.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) break;
    out += s[i];
    visible++;
  }
  return out;
}

/**
 * The frame as lines no wider than `width`. `selected` is the index of the highlighted open fix
 * (the one `a`/`r` act on).
 */
export function renderTopFrame(d: TopData, c: Colors, width = 100, selected = 0): string[] {
  const lines: string[] = [];
  const state = d.state.startsWith('running')
    ? c.green(d.state)
    : d.state.startsWith('failed')
      ? c.red(d.state)
      : c.yellow(d.state);
  lines.push(
    `${c.bold(`dancer top · ${d.service}`)}  ${state}  release ${short(d.currentRelease)}  restarts ${d.restarts}${
      d.running ? `  supervisor ${d.supervisorPid} up ${d.uptimeSeconds ?? 0}s` : ''
    }  ${c.dim(hhmmss(d.at))}`,
  );
  if (d.emergencyStop.engaged) {
    lines.push(
      c.red(
        `EMERGENCY STOP by ${d.emergencyStop.setBy ?? '?'}${d.emergencyStop.reason ? `: ${d.emergencyStop.reason}` : ''}`,
      ),
    );
  }
  lines.push('', c.bold('Workers'));
  if (d.workers.length === 0) lines.push(c.dim('  none'));
  for (const w of d.workers) {
    lines.push(
      `  pid ${String(w.pid).padEnd(8)} ${w.role.padEnd(10)} ${short(w.release).padEnd(13)} RSS ${w.rssMb === null ? '-' : `${w.rssMb.toFixed(1)} MiB`}  CPU ${w.cpuPercent === null ? '-' : `${w.cpuPercent.toFixed(1)}%`}`,
    );
  }
  const spark = (values: number[]) => sparkline(values.slice(-Math.max(10, Math.min(60, width - 40))));
  const last = (values: number[]) => values.at(-1) ?? 0;
  lines.push('', c.bold('Traffic (per minute)'));
  lines.push(`  requests ${String(last(d.requestsPerMin)).padStart(6)}  ${c.cyan(spark(d.requestsPerMin))}`);
  lines.push(`  errors   ${String(last(d.errorsPerMin)).padStart(6)}  ${c.red(spark(d.errorsPerMin))}`);
  lines.push('', c.bold('Deploy under observation'));
  if (!d.observing) lines.push(c.dim('  none'));
  else {
    const o = d.observing;
    lines.push(
      `  #${o.deployId} ${short(o.release)} ${o.status}${o.fixId ? ` (fix ${o.fixId})` : ''}${o.windowEndsAt ? `, window ends ${hhmmss(o.windowEndsAt)}` : ''}`,
    );
    if (o.reasons.length) lines.push(`  ${c.dim(o.reasons.join('; '))}`);
  }
  lines.push('', c.bold(`Open fixes (${d.openFixes.length})`));
  if (d.openFixes.length === 0) lines.push(c.dim('  none'));
  d.openFixes.forEach((f, i) => {
    const mark = i === selected ? '>' : ' ';
    const row = `${mark} #${String(f.id).padEnd(5)} ${f.state.padEnd(18)} pattern ${f.patternId.padEnd(6)} ${(f.summary ?? '').split('\n')[0]}`;
    lines.push(i === selected ? c.bold(row) : row);
  });
  lines.push('', c.bold('Recent decisions'));
  if (d.decisions.length === 0) lines.push(c.dim('  none'));
  for (const x of d.decisions.slice(0, 6)) {
    const outcome = x.outcome === 'fire' ? c.yellow('fire') : c.dim(x.outcome);
    lines.push(`  ${hhmmss(x.at)} ${x.rule.padEnd(12)} ${outcome.padEnd(8)} ${x.templateId ?? '-'}  ${x.reason}`);
  }
  if (d.message) lines.push('', d.message);
  lines.push('', c.dim('keys: up/down select · a approve · r reject · s stop · u resume · q quit'));
  return lines.map((l) => clip(l, width));
}
