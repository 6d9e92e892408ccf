import path from 'node:path';
import { type LoadedConfig, loadConfig } from '../config/index.js';
import type { GlobalOptions } from './options.js';

export { type GlobalOptions, withConfigOption, withDbOption } from './options.js';

/** Load the config for a command (defaults when there is no dancer.yaml and none was asked for). */
export function configFor(options: GlobalOptions): LoadedConfig {
  return loadConfig({ file: options.config });
}

/** The database path a command should use: `--db`, else `store.path` from the config. */
export function dbPathFor(options: GlobalOptions, loaded: LoadedConfig = configFor(options)): string {
  if (options.db) return path.resolve(options.db);
  return loaded.resolve(loaded.config.store.path);
}
