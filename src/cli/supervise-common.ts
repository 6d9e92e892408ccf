import { existsSync } from 'node:fs';
import type { LoadedConfig } from '../config/index.js';
import { loadConfig } from '../config/index.js';
import { isDancerError } from '../errors.js';
import { openStore } from '../store/index.js';
import {
  controlRequest,
  type StatusReport,
  type SupervisorPaths,
  serviceOf,
  statusFromStore,
  supervisorPaths,
} from '../supervise/index.js';

/** The config and supervisor paths for `--config` (dancer.yaml must exist). */
export function supervisedService(config: string | undefined): {
  loaded: LoadedConfig;
  paths: SupervisorPaths;
  name: string;
} {
  const loaded = loadConfig({ file: config, allowMissing: false });
  const service = serviceOf(loaded);
  return { loaded, paths: supervisorPaths(loaded), name: service.name };
}

/** Ask the running supervisor; `DANCER_SUPERVISOR_UNREACHABLE` when none runs. */
export function ask(
  paths: SupervisorPaths,
  cmd: string,
  args: Record<string, unknown> = {},
  timeoutMs = 60_000,
): Promise<unknown> {
  return controlRequest(paths.controlSocket, cmd, args, timeoutMs);
}

/** Status from the running supervisor, else from the store. */
export async function readStatus(paths: SupervisorPaths, name: string): Promise<StatusReport> {
  try {
    return (await ask(paths, 'status', {}, 5000)) as StatusReport;
  } catch (error) {
    if (!isDancerError(error, 'DANCER_SUPERVISOR_UNREACHABLE')) throw error;
  }
  if (!existsSync(paths.db)) return statusFromStore(openStore(':memory:'), name);
  const db = openStore(paths.db);
  try {
    return statusFromStore(db, name);
  } finally {
    db.close();
  }
}
