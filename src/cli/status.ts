import type { Command } from 'commander';
import { type Containment, describeContainment } from '../sandbox/index.js';
import type { StatusReport } from '../supervise/index.js';
import { withConfigOption } from './common.js';
import { makeColors, printJson } from './output.js';
import { readStatus, supervisedService } from './supervise-common.js';

/** `dancer status`: state of the supervised service, from the running supervisor or the store. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('status')
      .description('Show the service: state, pids, releases, uptime, restarts, open fixes, emergency stop.'),
  )
    .option('--json', 'print the status as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { paths, name, loaded } = supervisedService(opts.config);
      const status = await readStatus(paths, name);
      const containment = describeContainment(loaded.config.fixes.sandbox);
      if (opts.json) printJson({ ...status, containment });
      else process.stdout.write(renderStatus(status) + renderContainment(containment));
    });
}

const short = (r: string | null) => (r === null ? '-' : /^[0-9a-f]{40,64}$/.test(r) ? r.slice(0, 12) : r);

/** Human-readable status. */
export function renderStatus(s: StatusReport): string {
  const c = makeColors();
  const state = s.state === 'running' ? c.green(s.state) : s.state === 'failed' ? c.red(s.state) : c.yellow(s.state);
  const lines = [
    `${c.bold(s.service)}: ${state}${s.running ? ` (supervisor pid ${s.supervisorPid}, up ${duration(s.uptimeSeconds ?? 0)})` : ''}`,
    `  workers:        ${s.workers.length ? s.workers.map((w) => `${w.pid} (${w.role}, ${short(w.release)})`).join(', ') : '-'}`,
    `  release:        ${short(s.currentRelease)}  previous: ${short(s.previousRelease)}  last good: ${short(s.lastGoodRelease)}`,
    `  restarts:       ${s.restarts} (${s.recentRestarts} recent)`,
  ];
  if (s.sockets.length)
    lines.push(`  sockets:        ${s.sockets.map((k) => `${k.name} ${k.host}:${k.port}`).join(', ')}`);
  if (s.observing) lines.push(`  observing:      deploy #${s.observing.deployId} (${short(s.observing.release)})`);
  if (s.lastDeploy)
    lines.push(
      `  last deploy:    #${s.lastDeploy.id} ${s.lastDeploy.kind} ${short(s.lastDeploy.toRelease)} ${s.lastDeploy.status}${s.lastDeploy.reason ? ` (${s.lastDeploy.reason})` : ''}`,
    );
  lines.push(
    `  emergency stop: ${s.emergencyStop.engaged ? c.red(`ENGAGED by ${s.emergencyStop.setBy ?? '?'}${s.emergencyStop.reason ? `: ${s.emergencyStop.reason}` : ''}`) : 'off'}`,
  );
  lines.push(`  open fixes:     ${s.openFixes === null ? '-' : s.openFixes.length}`);
  if (s.metrics)
    lines.push(
      `  worker:         ${(s.metrics.rssBytes / 1048576).toFixed(1)} MiB RSS, ${s.metrics.cpuPercent?.toFixed(1) ?? '-'}% CPU, ${s.metrics.fds} fds`,
    );
  return `${lines.join('\n')}\n`;
}

/** Which uid and sandbox the service, the agent, its Bash and the gate run with. */
export function renderContainment(c: Containment): string {
  return [
    `  runs as:`,
    `    service:      ${c.service}`,
    `    agent:        ${c.agent}`,
    `    agent Bash:   ${c.bash}`,
    `    gate:         ${c.gate}`,
    '',
  ].join('\n');
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}
