/**
 * What `dancer run` adds for human oversight, in one call: the dashboard (when
 * `dashboard.enabled`), the signed webhooks (`notify.webhooks`), the remote backup of the fix
 * history (`fixes.pushRemote`), and the announcement of every emergency stop and resume, from
 * whichever source (CLI, Zulip, dashboard), on the notify hub. All of them follow one watcher
 * over the store. Nothing here can stop the service: a part that fails to start is reported
 * and left off.
 */
import type { LoadedConfig } from '../config/index.js';
import { type Dashboard, type StartDashboardOptions, startDashboard } from '../dashboard/index.js';
import { errorMessage } from '../errors.js';
import { startPushRemote } from '../fixes/index.js';
import type { BotActions, NotifyHub } from '../notify/index.js';
import { latestAuditActor, type StoreChange, type StoreWatcher, startWebhooks, watchStore } from '../notify/index.js';
import type { Db } from '../store/index.js';
import { createLiveActions } from './live-actions.js';
import type { RunningService } from './run-service.js';

/** Options of {@link startOversight}. */
export interface OversightOptions {
  running: Pick<RunningService, 'db' | 'supervisor'>;
  loaded: LoadedConfig;
  /** The live actions the Zulip bot uses (the healing loop's); default: new ones over the supervisor. */
  actions?: Pick<BotActions, 'approve' | 'reject' | 'rollback' | 'stop' | 'resume'> | undefined;
  /** Where stop and resume are announced (the Zulip bot subscribes). */
  hub?: NotifyHub | undefined;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  /** `deferred`: do not start the webhook sender; the caller starts it (the fleet's leader). Default `local`. */
  webhooks?: 'local' | 'deferred';
  /** Extra data for the dashboard (the fleet view when `fleet:` is configured). */
  fleetView?: StartDashboardOptions['fleetView'];
}

/** The running oversight parts. */
export interface Oversight {
  dashboard: Dashboard | undefined;
  /** The watcher over this host's store that every part follows. */
  watcher: StoreWatcher;
  /** Start the webhook sender on `watcher` (when `notify.webhooks` is set and it is not running). */
  startWebhooks(watcher: StoreWatcher): void;
  /** Stop the webhook sender (a leader that steps down). Pending deliveries stay queued. */
  stopWebhooks(): Promise<void>;
  stop(): Promise<void>;
}

/** Who lifted the emergency stop: the newest `resume` in the audit log (CLI, dashboard, Zulip). */
export function resumedBy(db: Db, since: number): string {
  return latestAuditActor(db, 'resume', since - 5_000) ?? 'someone';
}

/** The hub event for a stop or a resume seen in the store, or undefined for other changes. */
export function stopResumeEvent(db: Db, change: StoreChange, now: number) {
  if (change.type === 'stop') {
    return {
      type: 'stopped' as const,
      at: change.at,
      by: change.by ?? 'unknown',
      ...(change.reason ? { reason: change.reason } : {}),
    };
  }
  if (change.type === 'resume') return { type: 'resumed' as const, at: now, by: resumedBy(db, change.at) };
  return undefined;
}

/** Start the oversight parts of `dancer run`. Resolves once the dashboard listens (if enabled). */
export async function startOversight(options: OversightOptions): Promise<Oversight> {
  const { running, loaded } = options;
  const { db } = running;
  const config = loaded.config;
  const log = options.log ?? ((m: string) => process.stderr.write(`dancer: ${m}\n`));
  const watcher = watchStore(db, { onError: (e) => log(`oversight watcher: ${errorMessage(e)}`) });
  const stops: Array<() => Promise<void> | void> = [() => watcher.close()];

  if (options.hub) {
    const hub = options.hub;
    const unsubscribe = watcher.subscribe((change) => {
      const event = stopResumeEvent(db, change, Date.now());
      if (event) hub.publish(event);
    });
    stops.push(unsubscribe);
  }

  let hooks: { stop(): Promise<void> } | undefined;
  const startHooks = (source: StoreWatcher) => {
    if (config.notify.webhooks.length === 0 || hooks) return;
    try {
      hooks = startWebhooks({
        db,
        webhooks: config.notify.webhooks,
        watcher: source,
        service: running.supervisor.status().service,
        env: options.env ?? process.env,
        onError: (error) => log(`webhook: ${errorMessage(error)}`),
      });
      log(`webhooks: ${config.notify.webhooks.length} endpoint(s)`);
    } catch (error) {
      log(`webhooks are off: ${errorMessage(error)}`);
    }
  };
  const stopHooks = async () => {
    const h = hooks;
    hooks = undefined;
    await h?.stop();
  };
  stops.push(stopHooks);
  if (options.webhooks !== 'deferred') startHooks(watcher);

  if (config.fixes.pushRemote) {
    const push = startPushRemote({
      repo: loaded.resolve(config.fixes.repo),
      remote: config.fixes.pushRemote,
      watcher,
      onError: (error) => log(`push to ${config.fixes.pushRemote}: ${errorMessage(error)}`),
      onPushed: (refs) => log(`pushed ${refs} ref(s) to ${config.fixes.pushRemote}`),
    });
    stops.push(() => push.stop());
  }

  let dashboard: Dashboard | undefined;
  if (config.dashboard.enabled) {
    const supervisor = running.supervisor;
    try {
      dashboard = await startDashboard({
        db,
        settings: config.dashboard,
        actions:
          options.actions ??
          createLiveActions({
            db,
            supervisor,
            consult: config.consult,
            onBackgroundError: (error, context) => log(`${context}: ${errorMessage(error)}`),
          }),
        service: supervisor.status().service,
        repo: loaded.resolve(config.fixes.repo),
        liveStatus: () => supervisor.status(),
        env: options.env ?? process.env,
        watcher,
        onError: (e) => log(`dashboard: ${errorMessage(e)}`),
        ...(options.fleetView ? { fleetView: options.fleetView } : {}),
      });
      const started = dashboard;
      stops.unshift(() => started.close());
      log(`dashboard: ${dashboard.url}/${dashboard.readOnly ? ' (read-only: no token configured)' : ''}`);
    } catch (error) {
      log(`dashboard is off: ${errorMessage(error)}`);
    }
  }

  return {
    dashboard,
    watcher,
    startWebhooks: startHooks,
    stopWebhooks: stopHooks,
    async stop() {
      for (const stop of stops) await stop();
    },
  };
}
