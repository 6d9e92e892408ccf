/**
 * Where fix worktrees live: `fixes.worktreeBase` when set, else `/var/dancer/<service>/worktrees` when
 * running as root and that folder can be created and written, else `.dancer/worktrees` next to
 * the config file.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { defaultWorktreeBase } from './names.js';

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolve the worktree base for a config whose relative paths resolve against `configDir`.
 * `service` (`service.name`) is required on purpose: the default under /var/dancer is per service,
 * and a caller that left it out once resolved another service's folder.
 */
export function resolveWorktreeBase(
  configured: string | undefined,
  configDir: string,
  serviceName: string | undefined,
): string {
  const service = serviceName ?? 'service';
  if (configured) return path.resolve(configDir, configured);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return defaultWorktreeBase({
    isRoot,
    varWritable: isRoot && writable(`/var/dancer/${service}/worktrees`),
    dir: configDir,
    service,
  });
}
