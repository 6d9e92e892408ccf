/**
 * The healing loop's public face: `dancer run` and the demo start it on a running service.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type HealingLoop, type HealingLoopOptions, startHealingLoop } from './loop.js';

export { templateStatusAfter, triggerToFixTrigger } from './decide.js';
export { type HealingLoop, type HealingLoopOptions, startHealingLoop } from './loop.js';

/**
 * Start the healing loop when the service has a git repository to fix (`fixes.repo`), else say
 * once why it is off and return undefined: capture, mining and triggers still run.
 */
export function startHealingIfPossible(options: HealingLoopOptions): HealingLoop | undefined {
  const log = options.log ?? ((m: string) => process.stderr.write(`dancer: ${m}\n`));
  const repo = options.loaded.resolve(options.loaded.config.fixes.repo);
  if (!existsSync(path.join(repo, '.git'))) {
    log(`self-healing is off: ${repo} is not a git repository (set fixes.repo); logs and patterns are still captured`);
    return undefined;
  }
  if (!options.running.detector) {
    log('self-healing is off: pattern detection is disabled');
    return undefined;
  }
  return startHealingLoop(options);
}
