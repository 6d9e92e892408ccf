import path from 'node:path';
import type { Command } from 'commander';
import { type LoadedConfig, loadConfig } from '../config/index.js';

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

/** Load the config for a command (defaults when there is no dancer.yaml and none was asked for). */
export function configFor(options: GlobalOptions): LoadedConfig {
  return loadConfig({ file: options.config });
}

/** The database path a command should use: `--db`, else `store.path` from the config. */
export function dbPathFor(options: GlobalOptions, loaded: LoadedConfig = configFor(options)): string {
  if (options.db) return path.resolve(options.db);
  return loaded.resolve(loaded.config.store.path);
}
