/**
 * Connecting to the fleet's PostgreSQL and applying the fleet migrations.
 */
import os from 'node:os';
import pg from 'pg';
import type { FleetSettings } from '../config/index.js';
import { DancerError, errorMessage } from '../errors.js';
import { FLEET_MIGRATIONS, type FleetMigration } from './migrations.js';

/** A pool of connections to the control plane. */
export type FleetPool = pg.Pool;

/** Any client or pool that can run a query. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** Advisory-lock key the migrations run under (any fixed 64-bit number, "dancer-fleet-migrate"). */
const MIGRATE_LOCK = 771_901_001;

/** This host's name in the fleet: `fleet.host`, else the machine's hostname. */
export function fleetHostName(settings: Pick<FleetSettings, 'host'>): string {
  return settings.host ?? os.hostname();
}

/**
 * The connection URL from the environment variable `fleet.postgres.urlEnv` names.
 *
 * @throws {DancerError} `DANCER_CONFIG_ENV_MISSING` when it is not set.
 */
export function fleetUrl(settings: Pick<FleetSettings, 'postgres'>, env: NodeJS.ProcessEnv = process.env): string {
  const url = env[settings.postgres.urlEnv];
  if (!url) {
    throw new DancerError(
      'DANCER_CONFIG_ENV_MISSING',
      `fleet.postgres.urlEnv names ${settings.postgres.urlEnv}, which is not set: it must hold the PostgreSQL URL`,
      { details: { env: settings.postgres.urlEnv } },
    );
  }
  return url;
}

/** Options of {@link openFleetPool}. */
export interface FleetPoolOptions {
  /** Connections per host. Default 4 (heartbeat, lease work, LISTEN has its own client). */
  max?: number;
  /** Connect timeout, ms. Default 3000: a partitioned host must find out fast. */
  connectTimeoutMs?: number;
  /** Per-statement timeout, ms. Default 5000. */
  statementTimeoutMs?: number;
}

/**
 * A pool for `url`. Errors on idle clients (the server went away) are reported to `onError`, not
 * thrown: a host cut off from PostgreSQL keeps running.
 */
export function openFleetPool(url: string, options: FleetPoolOptions = {}, onError?: (e: Error) => void): FleetPool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    statement_timeout: options.statementTimeoutMs ?? 5000,
    query_timeout: (options.statementTimeoutMs ?? 5000) + 1000,
    idleTimeoutMillis: 10_000,
    application_name: 'dancer-fleet',
  });
  pool.on('error', (e) => onError?.(e));
  return pool;
}

/** Wrap a driver error as `DANCER_FLEET_UNAVAILABLE` (typed errors pass through). */
export function toFleetError(error: unknown, what: string): DancerError {
  if (error instanceof DancerError) return error;
  return new DancerError('DANCER_FLEET_UNAVAILABLE', `${what}: ${errorMessage(error)}`, { cause: error });
}

/**
 * Apply every fleet migration not yet applied, under an advisory lock. Returns the versions applied.
 *
 * @throws {DancerError} `DANCER_FLEET_MIGRATION_FAILED` (a migration failed or the schema is
 * newer than this Dancer), `DANCER_FLEET_UNAVAILABLE`.
 */
export async function migrateFleet(
  pool: FleetPool,
  migrations: readonly FleetMigration[] = FLEET_MIGRATIONS,
): Promise<number[]> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toFleetError(error, 'cannot connect to the fleet database');
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS fleet_schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM fleet_schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...done].filter((v) => !known.has(v));
    if (unknown.length > 0) {
      throw new DancerError(
        'DANCER_FLEET_MIGRATION_FAILED',
        `The fleet database has schema versions this Dancer does not know (${unknown.join(', ')}): upgrade Dancer on this host.`,
        { details: { unknown } },
      );
    }
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      try {
        await client.query('BEGIN');
        await client.query(m.up);
        await client.query('INSERT INTO fleet_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
        applied.push(m.version);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new DancerError(
          'DANCER_FLEET_MIGRATION_FAILED',
          `Fleet migration ${m.version} (${m.name}) failed: ${errorMessage(error)}`,
          { cause: error, details: { version: m.version } },
        );
      }
    }
    return applied;
  } catch (error) {
    throw toFleetError(error, 'fleet migration');
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK]).catch(() => undefined);
    client.release();
  }
}
