import type { Command } from 'commander';
import { withConfigOption } from './common.js';
import { printJson, progress } from './output.js';
import { ask, supervisedService } from './supervise-common.js';

/** `dancer reload`: zero-downtime restart of the current release. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('reload')
      .description(
        'Start a new worker of the current release on the same sockets; once it is ready the old one drains. If it is not ready in time the old one keeps serving.',
      ),
  )
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { paths } = supervisedService(opts.config);
      const result = (await ask(paths, 'reload', {}, 10 * 60_000)) as { pid: number; release: string; readyMs: number };
      if (opts.json) printJson(result);
      else progress(`reloaded: worker pid ${result.pid} ready in ${result.readyMs} ms`);
    });
}
