import type { Command } from 'commander';
import { humanFleetStop } from '../fleet/index.js';
import { recordAudit } from '../notify/index.js';
import { openStore } from '../store/index.js';
import { clearEmergencyStop, emergencyStop, setEmergencyStop } from '../supervise/index.js';
import { withConfigOption } from './common.js';
import { defaultActorName } from './fixes.js';
import { withFleet } from './fleet.js';
import { printJson, progress } from './output.js';
import { supervisedService } from './supervise-common.js';

/** `dancer stop` / `dancer resume`: the persisted emergency stop. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('stop')
      .description(
        'Emergency stop: halt consultations and deploys at once. Persisted; survives restarts. Undo with dancer resume.',
      ),
  )
    .option('--reason <text>', 'why (shown in status and to the team)')
    .option('--json', 'print the flag as JSON')
    .action(async (opts: { config?: string; reason?: string; json?: boolean }) => {
      const { paths, loaded } = supervisedService(opts.config);
      const db = openStore(paths.db);
      try {
        const user = defaultActorName();
        // In a fleet the stop is the fleet's (fleet:<actor>): a fleet resume from any host lifts it.
        const flag = setEmergencyStop(db, loaded.config.fleet ? `fleet:cli:${user}` : user, opts.reason ?? null);
        recordAudit(db, {
          ts: flag.setAt,
          actor: `cli:${user}`,
          source: 'cli',
          action: 'stop',
          args: opts.reason ? { reason: opts.reason } : undefined,
          outcome: 'ok',
        });
        // A fleet: every host obeys (this host's stop is already engaged, whatever PostgreSQL says).
        const fleet = await withFleet(loaded, 'the stop is engaged on this host only', async (pool, host) => {
          await humanFleetStop(pool, host, { engaged: true, actor: `cli:${user}`, reason: opts.reason });
          return true;
        });
        if (opts.json) printJson({ engaged: true, ...flag, ...(fleet ? { fleet: true } : {}) });
        else
          progress(
            `emergency stop engaged${fleet ? ' on every host of the fleet' : ''}${opts.reason ? `: ${opts.reason}` : ''} (dancer resume to release it)`,
          );
      } finally {
        db.close();
      }
    });

  withConfigOption(program.command('resume').description('Release the emergency stop.'))
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { paths, loaded } = supervisedService(opts.config);
      const db = openStore(paths.db);
      try {
        const was = emergencyStop(db) !== undefined;
        clearEmergencyStop(db);
        recordAudit(db, {
          ts: Date.now(),
          actor: `cli:${defaultActorName()}`,
          source: 'cli',
          action: 'resume',
          outcome: 'ok',
          detail: was ? undefined : 'the emergency stop was not engaged',
        });
        const fleet = await withFleet(loaded, 'the stop is released on this host only', async (pool, host) => {
          await humanFleetStop(pool, host, { engaged: false, actor: `cli:${defaultActorName()}` });
          return true;
        });
        if (opts.json) printJson({ engaged: false, wasEngaged: was, ...(fleet ? { fleet: true } : {}) });
        else
          progress(
            fleet
              ? 'emergency stop released on every host of the fleet'
              : was
                ? 'emergency stop released'
                : 'the emergency stop was not engaged',
          );
      } finally {
        db.close();
      }
    });
}
