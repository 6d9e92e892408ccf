import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import { type Healing, type Oversight, runService, startHealing, startOversight } from '../heal/index.js';
import { containmentLine, describeContainment } from '../sandbox/index.js';
import { withConfigOption } from './common.js';
import { type RunFleet, startRunFleet } from './run-fleet.js';
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
      // A fleet host loads the Agent SDK before it can hold a lease: the first import blocks the
      // event loop in one piece, which would otherwise land in the first consultation and delay
      // the heartbeat that renews the lease (a short leaseSeconds was lost that way).
      if (loaded.config.fleet) {
        const ms = await (await import('../consult/index.js')).preloadAgentSdk();
        process.stderr.write(`dancer: fleet: agent SDK loaded in ${Math.round(ms)} ms before joining the fleet\n`);
      }
      let healing: Healing | undefined;
      let fleet: RunFleet | undefined;
      let oversight: Oversight | undefined;
      const running = await runService({
        loaded,
        beforeStop: async () => {
          await oversight?.stop();
          await healing?.stop();
          await fleet?.service.stop();
        },
        onAlert: (alert) => healing?.onAlert(alert),
      });
      // fleet: only with a `fleet:` section (src/fleet); nothing changes without one.
      // With a fleet, the Zulip bot and the webhook sender run on the fleet's leader only.
      const log = (m: string) => process.stderr.write(`dancer: ${m}\n`);
      fleet = loaded.config.fleet ? await startRunFleet(running, loaded, log) : undefined;
      healing = startHealing({
        running,
        loaded,
        fleetGate: fleet?.service.gate,
        fleetPipeline: fleet?.service.pipeline,
        voice: fleet ? 'deferred' : 'local',
      });
      // The dashboard, webhooks, remote backup and stop/resume announcements (src/heal/oversight.ts).
      oversight = await startOversight({
        running,
        loaded,
        // In a fleet the dashboard's stop, resume and rollback also reach every host.
        actions: fleet && healing.loop ? fleet.humanActions(healing.loop.actions) : healing.loop?.actions,
        hub: healing.hub,
        webhooks: fleet ? 'deferred' : 'local',
        fleetView: fleet?.view,
      });
      fleet?.attach({ healing, oversight });
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
