import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/index.js';
import { DancerError } from '../errors.js';
import type { FleetService } from '../fleet/index.js';
import {
  type Healing,
  type Oversight,
  type RunningService,
  runService,
  startHealing,
  startOversight,
} from '../heal/index.js';
import { containmentLine, describeContainment } from '../sandbox/index.js';
import { withConfigOption } from './common.js';
import { supervisedService } from './supervise-common.js';

/** `dancer run`: supervise the service in the foreground (or in a tmux session). */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('run')
      .description(
        'Run the service under the supervisor: capture its output into the store, restart crashes, serve reloads, deploys and rollbacks. SIGTERM/SIGINT drain and exit 0; a second signal forces.',
      ),
  )
    .option(
      '--tmux',
      'run the supervisor in a detached tmux session named dancer-<service> (attach with tmux attach -t ...)',
    )
    .action(async (opts: { config?: string; tmux?: boolean }) => {
      const { loaded, name } = supervisedService(opts.config);
      if (opts.tmux) {
        runInTmux(name, loaded.file!);
        return;
      }
      // Say plainly who runs what (issue: nothing runs as root silently).
      process.stderr.write(`dancer: ${containmentLine(describeContainment(loaded.config.fixes.sandbox))}\n`);
      // A fleet without its PostgreSQL URL is a configuration error: say so before starting anything.
      if (loaded.config.fleet) (await import('../fleet/index.js')).fleetUrl(loaded.config.fleet);
      let healing: Healing | undefined;
      let fleet: FleetService | undefined;
      let oversight: Oversight | undefined;
      const running = await runService({
        loaded,
        beforeStop: async () => {
          await oversight?.stop();
          await healing?.stop();
          await fleet?.stop();
        },
        onAlert: (alert) => healing?.onAlert(alert),
      });
      // fleet: only with a `fleet:` section (src/fleet); nothing changes without one.
      fleet = loaded.config.fleet ? await startFleetFor(running, loaded) : undefined;
      healing = startHealing({ running, loaded, fleetGate: fleet?.gate, fleetPipeline: fleet?.pipeline });
      // The dashboard, webhooks, remote backup and stop/resume announcements (src/heal/oversight.ts).
      oversight = await startOversight({ running, loaded, actions: healing.loop?.actions, hub: healing.hub });
      process.exitCode = await running.done;
      const failure = running.failure();
      if (failure) throw failure;
    });
}

function runInTmux(name: string, configFile: string): void {
  const which = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new DancerError('DANCER_USAGE', '--tmux needs tmux, which is not installed; run without --tmux.');
  }
  const session = `dancer-${name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  if (spawnSync('tmux', ['has-session', '-t', session]).status === 0) {
    throw new DancerError(
      'DANCER_SUPERVISOR_RUNNING',
      `tmux session ${session} already exists (tmux attach -t ${session}).`,
    );
  }
  const bin = path.resolve(import.meta.dirname, '../../bin/dancer.js');
  const result = spawnSync(
    'tmux',
    [
      'new-session',
      '-d',
      '-s',
      session,
      '-c',
      path.dirname(configFile),
      process.execPath,
      bin,
      'run',
      '--config',
      configFile,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new DancerError('DANCER_SPAWN_FAILED', `tmux new-session failed: ${result.stderr.trim()}`);
  }
  process.stderr.write(`dancer: supervisor running in tmux session ${session} (tmux attach -t ${session})\n`);
}

/** Start the fleet side of this host (`fleet:` in dancer.yaml); see docs/fleet.md. */
async function startFleetFor(running: RunningService, loaded: LoadedConfig): Promise<FleetService> {
  const { startFleetService } = await import('../fleet/index.js');
  const config = loaded.config;
  return startFleetService({
    settings: config.fleet as NonNullable<typeof config.fleet>,
    db: running.db,
    supervisor: running.supervisor,
    repo: loaded.resolve(config.fixes.repo),
    remote: config.fixes.pushRemote ?? 'origin',
    cooldownMinutes: config.fixes.retryCooldownMinutes,
    mainBranch: config.fixes.mainBranch,
  });
}
