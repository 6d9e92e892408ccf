/**
 * `dancer dashboard [--config F] [--db PATH] [--host H] [--port N]`: the web dashboard over a
 * database, in the foreground, until SIGINT/SIGTERM. Approvals and the emergency stop it takes
 * are written to the store, where the running supervisor picks them up.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/index.js';
import { startDashboard } from '../dashboard/index.js';
import { DancerError } from '../errors.js';
import { createLiveActions } from '../heal/index.js';
import { openStore } from '../store/index.js';
import type { RollbackOutcome } from '../supervise/index.js';
import { controlRequest, serviceOf, supervisorPaths } from '../supervise/index.js';
import { configFor, dbPathFor, withDbOption } from './common.js';
import { progress } from './output.js';

interface DashboardOptions {
  config?: string;
  db?: string;
  host?: string;
  port?: string;
}

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new DancerError('DANCER_USAGE', `--port wants a port number (0-65535), got "${raw}".`);
  }
  return n;
}

/** The service's name and control socket, when dancer.yaml has a service section. */
function serviceBits(loaded: LoadedConfig): { name?: string; controlSocket?: string; repo?: string } {
  if (!loaded.config.service) return {};
  const service = serviceOf(loaded);
  const paths = supervisorPaths(loaded);
  return { name: service.name, controlSocket: paths.controlSocket, repo: loaded.resolve(loaded.config.fixes.repo) };
}

/** Register `dancer dashboard`. */
export function register(program: Command): void {
  withDbOption(
    program
      .command('dashboard')
      .description(
        'Serve the web dashboard (overview, patterns, fixes, provenance, audit, log search; live) over the store.',
      ),
  )
    .option('--host <host>', 'address to bind (default: dashboard.host, 127.0.0.1)')
    .option('--port <n>', 'port (default: dashboard.port, 7777; 0 for any free port)')
    .action(async (opts: DashboardOptions) => {
      const loaded = configFor(opts);
      const file = dbPathFor(opts, loaded);
      if (opts.db && !existsSync(file)) {
        throw new DancerError('DANCER_NOT_FOUND', `No database at ${file}.`, { details: { file } });
      }
      const settings = loaded.config.dashboard;
      const bits = serviceBits(loaded);
      const db = openStore(file);
      const actions = createLiveActions({
        db,
        service: bits.name,
        onBackgroundError: (error, context) => progress(`dashboard: ${context}: ${String(error)}`),
      });
      const controlSocket = bits.controlSocket;
      let dashboard: Awaited<ReturnType<typeof startDashboard>>;
      try {
        dashboard = await startDashboard({
          db,
          settings: {
            host: opts.host ?? settings.host,
            port: parsePort(opts.port, settings.port),
            tokenEnv: settings.tokenEnv,
          },
          actions,
          service: bits.name,
          repo: bits.repo && existsSync(path.join(bits.repo, '.git')) ? bits.repo : undefined,
          rollbackViaControl: controlSocket
            ? async (by, reason) => {
                const r = (await controlRequest(
                  controlSocket,
                  'rollback',
                  { reason, actor: by },
                  10 * 60_000,
                )) as RollbackOutcome;
                return `Rolled back to ${r.to.slice(0, 12)} in ${r.readyMs} ms.`;
              }
            : undefined,
          onError: (error) => progress(`dashboard: ${String(error)}`),
        });
      } catch (error) {
        db.close();
        throw error;
      }
      progress(
        `dashboard: ${dashboard.url}/ on ${file} (${
          dashboard.readOnly
            ? 'read-only: set dashboard.tokenEnv for actions'
            : `actions need the token in $${settings.tokenEnv}`
        }); Ctrl-C stops it`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await dashboard.close();
      db.close();
    });
}
