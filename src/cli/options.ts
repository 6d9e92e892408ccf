/**
 * The options many commands share. Kept apart from the config loader (src/cli/common.ts) so a
 * command can declare `--config` without loading the schema (`dancer mine` loads it only when
 * there is a dancer.yaml).
 */
import type { Command } from 'commander';

/** Options every command that reads config or the store accepts. */
export interface GlobalOptions {
  config?: string;
  db?: string;
  json?: boolean;
}

/** Add `--config` to a command. */
export function withConfigOption(command: Command): Command {
  return command.option('-c, --config <file>', 'dancer.yaml to use (default: ./dancer.yaml if present)');
}

/** Add `--db` (and `--config`) to a command. */
export function withDbOption(command: Command): Command {
  return withConfigOption(command).option(
    '--db <path>',
    'SQLite database (default: store.path from dancer.yaml, else .dancer/dancer.db)',
  );
}
