import type { Command } from 'commander';

/**
 * Every command group, registered in one place. Each group lives in its own file and exports
 * `register(program)`; add one line here per group.
 */
export function registerCommands(program: Command): void {
  void program;
}
