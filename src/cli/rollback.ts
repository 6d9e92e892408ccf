import type { Command } from 'commander';
import { humanFleetRollback } from '../fleet/index.js';
import type { RollbackOutcome } from '../supervise/index.js';
import { withConfigOption } from './common.js';
import { withFleet } from './fleet.js';
import { printJson, progress } from './output.js';
import { ask, supervisedService } from './supervise-common.js';

/** `dancer rollback [--reason]`: back to the last good release (no build), then the revert is recorded in git. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('rollback')
      .description(
        'Hand off to the last good release (zero-downtime, no build), then record the revert in git and the fix rolled_back, as an automatic rollback does.',
      ),
  )
    .option('--reason <text>', 'why (stored with the rollback)', 'manual')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; reason: string; json?: boolean }) => {
      const { paths, loaded } = supervisedService(opts.config);
      const actor = process.env.USER ?? 'cli';
      const result = (await ask(paths, 'rollback', { reason: opts.reason, actor }, 10 * 60_000)) as RollbackOutcome;
      // A fleet: the fleet fix this host served is rolled back on every host serving it.
      const fleetFix = await withFleet(loaded, 'rolled back on this host only', (pool, host) =>
        humanFleetRollback(pool, host, { actor: `cli:${actor}`, reason: opts.reason }),
      );
      if (opts.json) printJson(fleetFix === undefined ? result : { ...result, fleetFixId: fleetFix });
      else
        progress(
          `rolled back to ${result.to.slice(0, 12)}: serving ${result.readyMs} ms after the decision${result.fixId !== undefined ? `; fix ${result.fixId} is being recorded rolled_back (revert on main)` : ''}${fleetFix !== undefined ? `; fleet fix ${fleetFix} rolled back on every host` : ''}`,
        );
    });
}
