import type { Command } from 'commander';
import { DancerError, isDancerError } from '../errors.js';
import { gitSync } from '../process/index.js';
import type { DeployOutcome } from '../supervise/index.js';
import { resolveCommit } from '../supervise/index.js';
import { withConfigOption } from './common.js';
import { printJson, progress } from './output.js';
import { ask, supervisedService } from './supervise-common.js';

/** `dancer deploy REF` and `dancer accept`. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('deploy <ref>')
      .description(
        'Build REF (a git ref of the service repository) once into a release, hand off to it with no dropped request, and observe it; roll back on any trigger.',
      ),
  )
    .option('--no-wait', 'return once the new release serves, without waiting for the observation window')
    .option('--reason <text>', 'why, stored with the deploy')
    .option('--json', 'print the outcome as JSON')
    .action(async (ref: string, opts: { config?: string; wait: boolean; reason?: string; json?: boolean }) => {
      const { paths, loaded } = supervisedService(opts.config);
      const window = loaded.config.service?.observe.windowSeconds ?? 300;
      const extensions = loaded.config.service?.observe.maxExtensions ?? 2;
      // An unknown ref (`main` in a `master` repository) fails here, before anything says "deploying".
      const commit = checkRef(paths.repo, ref).slice(0, 12);
      progress(opts.wait ? `deploying ${ref} (${commit}); observing for ${window} s` : `deploying ${ref} (${commit})`);
      const outcome = (await ask(
        paths,
        'deploy',
        { ref, noWait: !opts.wait, reason: opts.reason, actor: process.env.USER ?? 'cli' },
        (window * (1 + extensions) + 600) * 1000,
      )) as DeployOutcome;
      if (opts.json) printJson(outcome);
      else
        progress(
          `deploy #${outcome.deployId}: ${outcome.status}${outcome.reasons.length ? ` (${outcome.reasons.join('; ')})` : ''}`,
        );
      if (outcome.status === 'rolled_back' || outcome.status === 'failed') process.exitCode = 1;
    });

  withConfigOption(
    program.command('accept').description('Keep a deploy whose observation window was inconclusive (a human decided).'),
  )
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { paths } = supervisedService(opts.config);
      const result = (await ask(paths, 'accept', { actor: process.env.USER ?? 'cli' })) as { deployId: number };
      if (opts.json) printJson(result);
      else progress(`deploy #${result.deployId} accepted`);
    });
}

/** The commit `ref` names in `repo`; an unknown ref is an error that lists the branches there are. */
function checkRef(repo: string | undefined, ref: string): string {
  try {
    return resolveCommit(repo, ref);
  } catch (error) {
    if (!isDancerError(error) || repo === undefined) throw error;
    const branches = gitSync(repo, ['branch', '--format=%(refname:short)'], { allowFail: true })
      .stdout.split('\n')
      .filter(Boolean);
    throw new DancerError(
      'DANCER_DEPLOY_FAILED',
      `Unknown git ref "${ref}" in ${repo}${branches.length ? ` (branches: ${branches.join(', ')})` : ''}; nothing was deployed.`,
      { details: { ref, repo, branches } },
    );
  }
}
