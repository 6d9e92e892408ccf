/**
 * The dashboard: a web page and a JSON API over the store, live through server-sent events,
 * with actions behind a bearer token. `dancer dashboard` starts it on a database; `dancer run`
 * starts it inside the supervisor when `dashboard.enabled`.
 */
import type { DashboardSettings } from '../config/index.js';
import type { FixRecord } from '../fixes/index.js';
import type { BotActions } from '../notify/index.js';
import { fixDiff, type StoreWatcher, watchStore } from '../notify/index.js';
import type { Db } from '../store/index.js';
import type { StatusReport } from '../supervise/index.js';
import { assertSafeBind } from './auth.js';
import { createDashboardApp, type ListeningDashboard, listen } from './server.js';

export { type ActionAnswer, type DashboardAction, performAction, statusForError } from './actions.js';
export { assertSafeBind, checkAction, isLoopback } from './auth.js';
export {
  deploysOfFix,
  fixesOfConsultation,
  fixOfRelease,
  type Provenance,
  provenanceLines,
  provenanceOf,
} from './provenance.js';
/** Read-only queries behind the dashboard's pages and API (also `dancer top`, `dancer consultations`). */
export * as queries from './queries.js';
export { createDashboardApp, type DashboardServerOptions, type ListeningDashboard } from './server.js';

/** Options of {@link startDashboard}. */
export interface StartDashboardOptions {
  db: Db;
  settings: Pick<DashboardSettings, 'host' | 'port' | 'tokenEnv'>;
  actions: Pick<BotActions, 'approve' | 'reject' | 'rollback' | 'stop' | 'resume'>;
  service?: string | undefined;
  /** The service repository (fix diffs). */
  repo?: string | undefined;
  liveStatus?: (() => StatusReport) | undefined;
  rollbackViaControl?: ((by: string, reason: string) => Promise<string>) | undefined;
  env?: NodeJS.ProcessEnv;
  /** Share a watcher (else the dashboard polls the store itself, every 250 ms). */
  watcher?: StoreWatcher | undefined;
  onError?: (error: unknown) => void;
  /** The fleet's status (`dancer fleet status --json`), when `fleet:` is configured. */
  fleetView?: (() => Promise<unknown>) | undefined;
}

/** A running dashboard. */
export interface Dashboard extends ListeningDashboard {
  /** True when no token is configured (actions answer 403). */
  readOnly: boolean;
}

/** The token named by `dashboard.tokenEnv`, if set and not empty. */
export function dashboardToken(tokenEnv: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!tokenEnv) return undefined;
  const value = env[tokenEnv];
  return value && value.trim() !== '' ? value.trim() : undefined;
}

/**
 * Start the dashboard: check the bind is safe, then listen. Resolves once it listens.
 *
 * @throws {DancerError} `DANCER_DASHBOARD_INSECURE` (non-loopback host without a token),
 *   `DANCER_DASHBOARD_LISTEN_FAILED`.
 */
export async function startDashboard(options: StartDashboardOptions): Promise<Dashboard> {
  const { settings } = options;
  const token = dashboardToken(settings.tokenEnv, options.env);
  assertSafeBind(settings.host, token, settings.tokenEnv);
  const ownWatcher = options.watcher ? undefined : watchStore(options.db, { onError: options.onError });
  const watcher = options.watcher ?? (ownWatcher as StoreWatcher);
  const repo = options.repo;
  const app = createDashboardApp({
    db: options.db,
    service: options.service,
    liveStatus: options.liveStatus,
    actions: options.actions,
    rollbackViaControl: options.rollbackViaControl,
    diffOf: repo ? async (fix: FixRecord) => (await fixDiff(repo, fix))?.diff : undefined,
    watcher,
    token,
    fleetView: options.fleetView,
  });
  let listening: ListeningDashboard;
  try {
    listening = await listen(app, settings.host, settings.port);
  } catch (error) {
    ownWatcher?.close();
    throw error;
  }
  return {
    ...listening,
    readOnly: token === undefined,
    async close() {
      ownWatcher?.close();
      await listening.close();
    },
  };
}
