import type { Command } from 'commander';
import { register as registerMine } from './mine.js';
import { register as registerPatterns } from './patterns.js';
import { register as registerIngest } from './ingest.js';
import { register as registerLogs } from './logs.js';

/**
 * Every command group, registered in one place. Each group lives in its own file and exports
 * `register(program)`; add one line here per group.
 */
export function registerCommands(program: Command): void {
  void program;
  registerMine(program);
  registerPatterns(program);
  registerIngest(program);
  registerLogs(program);
}
