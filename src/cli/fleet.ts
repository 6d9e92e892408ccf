/**
 * `dancer fleet status [--json]`: the fleet's hosts, patterns with per-host counts and fixes with
 * each host's deploy state, read from the PostgreSQL control plane (`fleet:` in dancer.yaml).
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/index.js';
import { DancerError } from '../errors.js';
import {
  type FleetPool,
  fleetHostName,
  fleetUrl,
  openFleetPool,
  readFleetStatus,
  renderFleetStatus,
  toFleetError,
} from '../fleet/index.js';
import { configFor, type GlobalOptions, withConfigOption } from './common.js';
import { makeColors, printJson, renderTable } from './output.js';

interface FleetStatusOptions extends GlobalOptions {
  window?: string;
}

async function statusCommand(options: FleetStatusOptions): Promise<void> {
  const loaded = configFor(options);
  const fleet = loaded.config.fleet;
  if (!fleet) {
    throw new DancerError(
      'DANCER_USAGE',
      'dancer.yaml has no fleet: section: this service runs on one host (see docs/fleet.md)',
    );
  }
  const windowMinutes = options.window ? Number(options.window) : 60;
  if (!Number.isInteger(windowMinutes) || windowMinutes <= 0) {
    throw new DancerError('DANCER_USAGE', `--window must be a positive number of minutes, not ${options.window}`);
  }
  const pool = openFleetPool(fleetUrl(fleet), { max: 2 });
  try {
    const status = await readFleetStatus(pool, { leaseSeconds: fleet.leaseSeconds, windowMinutes }).catch((error) => {
      throw toFleetError(error, 'cannot read the fleet status');
    });
    if (options.json) {
      printJson(status);
      return;
    }
    const colors = makeColors();
    process.stdout.write(renderFleetStatus(status, (h, r) => renderTable(h, r, colors), colors));
  } finally {
    await pool.end();
  }
}

/**
 * With a `fleet:` section in dancer.yaml: run `f` on a short-lived connection to the control plane,
 * as this host. Without one: undefined (nothing changes on a single host).
 *
 * @throws {DancerError} `DANCER_FLEET_UNAVAILABLE` when PostgreSQL does not answer (`what` says what failed).
 */
export async function withFleet<T>(
  loaded: LoadedConfig,
  what: string,
  f: (pool: FleetPool, host: string) => Promise<T>,
): Promise<T | undefined> {
  const fleet = loaded.config.fleet;
  if (!fleet) return undefined;
  const pool = openFleetPool(fleetUrl(fleet), { max: 2 });
  try {
    return await f(pool, fleetHostName(fleet)).catch((error) => {
      throw toFleetError(error, what);
    });
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** Register `dancer fleet`. */
export function register(program: Command): void {
  const fleet = program
    .command('fleet')
    .description('The fleet of hosts sharing one PostgreSQL control plane (fleet: in dancer.yaml).');
  withConfigOption(
    fleet
      .command('status')
      .description(
        "Hosts (heartbeat age, release, state), patterns with per-host counts, fixes with each host's deploy state.",
      )
      .option('--window <minutes>', 'pattern counts over the last N minutes', '60')
      .option('--json', 'print the status as JSON on stdout'),
  ).action((options: FleetStatusOptions) => statusCommand(options));
}
