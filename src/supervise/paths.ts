import path from 'node:path';
import type { z } from 'zod';
import type { LoadedConfig, serviceSchema } from '../config/index.js';
import { DancerError } from '../errors.js';
import { gitSync } from '../process/index.js';

/** The `service:` section, validated. */
export type ServiceConfig = z.infer<typeof serviceSchema>;

/** Every path the supervisor of one service uses, absolute. */
export interface SupervisorPaths {
  /** `.dancer/<service>` (owner-only): control socket, notify socket. */
  stateDir: string;
  controlSocket: string;
  notifySocket: string;
  releasesDir: string;
  /** The service's working directory in the working tree. */
  cwd: string;
  /** Git repository top level, when cwd is inside one. */
  repo: string | undefined;
  /** cwd relative to the repository (where to run inside a release directory). */
  cwdInRepo: string;
  db: string;
}

/**
 * The service section of a loaded config.
 *
 * @throws {DancerError} `DANCER_CONFIG_INVALID` when dancer.yaml has no `service:` section.
 */
export function serviceOf(loaded: LoadedConfig): ServiceConfig {
  const service = loaded.config.service;
  if (!service) {
    throw new DancerError(
      'DANCER_CONFIG_INVALID',
      `${loaded.file ?? 'dancer.yaml'}: no "service:" section (service.name and service.start are required).`,
      { details: { file: loaded.file } },
    );
  }
  return service;
}

/** Resolve the supervisor's paths from the config (relative paths against the config file's folder). */
export function supervisorPaths(loaded: LoadedConfig, isRoot = process.getuid?.() === 0): SupervisorPaths {
  const service = serviceOf(loaded);
  const stateDir = loaded.resolve(service.stateDir ?? path.join('.dancer', service.name));
  const cwd = loaded.resolve(service.cwd);
  const repo = service.repo ? loaded.resolve(service.repo) : gitTopLevel(cwd);
  const releasesDir = service.releasesDir
    ? loaded.resolve(service.releasesDir)
    : isRoot
      ? path.join('/var/dancer', service.name, 'releases')
      : loaded.resolve(path.join('.dancer', 'releases'));
  return {
    stateDir,
    controlSocket: path.join(stateDir, 'control.sock'),
    notifySocket: path.join(stateDir, 'notify.sock'),
    releasesDir,
    cwd,
    repo,
    cwdInRepo: repo ? path.relative(repo, cwd) : '',
    db: loaded.resolve(loaded.config.store.path),
  };
}

function gitTopLevel(dir: string): string | undefined {
  try {
    const result = gitSync(dir, ['rev-parse', '--show-toplevel'], { allowFail: true });
    if (result.exitCode !== 0) return undefined;
    return result.stdout.trim() || undefined;
  } catch {
    return undefined; // git could not run here
  }
}
