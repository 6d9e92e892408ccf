import type { Command } from 'commander';
import type { RollbackOutcome } from '../supervise/index.js';
import { withConfigOption } from './common.js';
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
      const { paths } = supervisedService(opts.config);
      const result = (await ask(
        paths,
        'rollback',
        { reason: opts.reason, actor: process.env.USER ?? 'cli' },
        10 * 60_000,
      )) as RollbackOutcome;
      if (opts.json) printJson(result);
      else
        progress(
          `rolled back to ${result.to.slice(0, 12)}: serving ${result.readyMs} ms after the decision${result.fixId !== undefined ? `; fix ${result.fixId} is being recorded rolled_back (revert on main)` : ''}`,
        );
    });
}
