import type { Command } from 'commander';
import type { RollbackOutcome } from '../supervise/supervisor.js';
import { withConfigOption } from './common.js';
import { printJson, progress } from './output.js';
import { ask, supervisedService } from './supervise-common.js';

/** `dancer rollback`: back to the previous release, no rebuild. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('rollback')
      .description('Start the previous release with the same zero-downtime handoff (no rebuild) and record why.'),
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
      else progress(`rolled back to ${result.to.slice(0, 12)}: serving in ${result.readyMs} ms`);
    });
}
