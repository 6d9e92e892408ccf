/**
 * What `dancer run` wires when dancer.yaml has a `fleet:` section (see docs/fleet.md): the fleet
 * service, the one voice (the Zulip bot and the webhook sender run on the leader only, fed with
 * every host's events through PostgreSQL), human commands that reach every host, and the
 * detector's fleet-wide counts. Without a `fleet:` section none of this runs.
 */
import type { LoadedConfig } from '../config/index.js';
import { errorMessage } from '../errors.js';
import {
  type FleetService,
  fleetFixRef,
  humanFleetRollback,
  humanFleetStop,
  lastFixInfo,
  readFleetStatus,
  resolveFleetFixRef,
  routeFixCommand,
  type VoiceEvent,
} from '../fleet/index.js';
import type { Healing, Oversight, RunningService } from '../heal/index.js';
import {
  type BotActions,
  createNotifyHub,
  discardOutboxRange,
  type NotifyEvent,
  type OutboxMarks,
  outboxMarks,
  outboxSettled,
  type StoreChange,
  type StoreWatcher,
  webhookEventOf,
} from '../notify/index.js';

/** The fleet side of `dancer run`, bound late to the healing loop and oversight. */
export interface RunFleet {
  service: FleetService;
  /** Call once the healing loop and oversight run: starts the voice if this host already leads. */
  attach(parts: { healing: Healing; oversight: Oversight }): void;
  /** The dashboard's fleet view. */
  view(): Promise<unknown>;
  /** `actions` with their fleet-wide effects (see {@link fleetBotActions}). */
  humanActions(actions: BotActions): BotActions;
}

type Log = (message: string) => void;

/** Start the fleet side of this host. */
export async function startRunFleet(running: RunningService, loaded: LoadedConfig, log: Log): Promise<RunFleet> {
  const { startFleetService } = await import('../fleet/index.js');
  const config = loaded.config;
  const fleetSettings = config.fleet as NonNullable<typeof config.fleet>;
  const triggers = config.patterns.triggers;
  let healing: Healing | undefined;
  let oversight: Oversight | undefined;
  let leading = false;
  let speaking = false;
  const relayHub = createNotifyHub((e) => log(`fleet voice: ${errorMessage(e)}`));
  const relayWatcher = relayedWatcher();
  // A fleet-wide stop is engaged (and lifted) on every host: announce it once, not once per host.
  const zulipStops = stopAnnouncements();
  const hookStops = stopAnnouncements();

  const applyVoice = () => {
    if (!healing || !oversight || leading === speaking) return;
    speaking = leading;
    if (leading) {
      // The bot's fix ids are fleet numbers (src/fleet/fix-refs.ts).
      healing.startBot(relayHub, (actions) => fleetBotActions(actions, service, log, 'fleet'));
      oversight.startWebhooks(relayWatcher.watcher);
    }
  };

  const service: FleetService = startFleetService({
    settings: fleetSettings,
    db: running.db,
    supervisor: running.supervisor,
    repo: loaded.resolve(config.fixes.repo),
    remote: config.fixes.pushRemote ?? 'origin',
    cooldownMinutes: config.fixes.retryCooldownMinutes,
    mainBranch: config.fixes.mainBranch,
    countsWindowMinutes: Math.max(triggers.newPattern.windowMinutes, triggers.spike.windowMinutes),
    voice: {
      ready: () => speaking,
      start() {
        leading = true;
        applyVoice();
      },
      async stop() {
        leading = false;
        if (!speaking) return;
        speaking = false;
        await healing?.stopBot();
        await oversight?.stopWebhooks();
      },
      deliver(e: VoiceEvent) {
        // The receipt: the outbox rows this event became (a synchronous, durable hand-over).
        const from = outboxMarks(running.db);
        if (e.channel === 'zulip') {
          const event = e.payload as NotifyEvent;
          if (zulipStops.repeats(event.type === 'stopped', event.type === 'resumed')) return { from, to: from };
          relayHub.publish(event);
        } else {
          const change = e.payload as StoreChange;
          if (hookStops.repeats(change.type === 'stop', change.type === 'resume')) return { from, to: from };
          relayWatcher.emit({ ...change, host: e.host } as unknown as StoreChange);
        }
        return { from, to: outboxMarks(running.db) };
      },
      settled: (receipt) => {
        const r = receipt as { from: OutboxMarks; to: OutboxMarks };
        return outboxSettled(running.db, r.from, r.to);
      },
      discard: (receipt) => {
        const r = receipt as { from: OutboxMarks; to: OutboxMarks };
        discardOutboxRange(running.db, r.from, r.to, 'superseded: the next fleet leader posted it');
      },
    },
    onFixCommand: async (c) => {
      const actions = healing?.loop?.actions;
      if (!actions) throw new Error(`no healing loop runs here to ${c.name} fix ${c.fixId}`);
      if (c.name === 'approve') await actions.approve(c.fixId, c.actor);
      else if (c.name === 'reject') await actions.reject(c.fixId, c.actor, c.reason ?? 'rejected');
      else {
        await actions.rollback(c.fixId, c.actor);
        await humanFleetRollback(service.pool, service.host, { actor: c.actor, reason: `rollback of fix ${c.fixId}` });
      }
    },
  });
  // The detector counts what every host saw of a pattern (new-pattern rule).
  running.detector?.setRemoteCounts((id, from, to) => service.remoteCounts(id, from, to));

  return {
    service,
    attach(parts) {
      healing = parts.healing;
      oversight = parts.oversight;
      // Every host's events go to the fleet's one voice (the leader's bot and webhook sender).
      parts.healing.hub.subscribe((event) => service.publish('zulip', event));
      parts.oversight.watcher.subscribe((change) => {
        if (webhookEventOf(change)) service.publish('webhook', change);
      });
      applyVoice();
    },
    view: () => readFleetStatus(service.pool, { leaseSeconds: fleetSettings.leaseSeconds }),
    humanActions: (actions) => fleetBotActions(actions, service, log),
  };
}

/**
 * Whether a stop or resume repeats the one last announced (every host of the fleet reports the
 * same fleet-wide stop; the first report is announced, the others are dropped until the state flips).
 */
export function stopAnnouncements(): { repeats(stop: boolean, resume: boolean): boolean } {
  let stopped: boolean | undefined;
  return {
    repeats(stop, resume) {
      if (!stop && !resume) return false;
      if (stopped === stop) return true;
      stopped = stop;
      return false;
    },
  };
}

/** A watcher the webhook sender follows on the leader: the relayed changes of every host. */
function relayedWatcher(): { watcher: StoreWatcher; emit(change: StoreChange): void } {
  const listeners = new Set<(change: StoreChange) => void>();
  return {
    watcher: {
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      poll() {},
      close() {
        listeners.clear();
      },
    },
    emit(change) {
      for (const l of listeners) l(change);
    },
  };
}

/**
 * The human actions on a fleet host: a stop or resume also goes to every host; a rollback here
 * also rolls the fleet fix back on every host serving it. `ids`: `'local'` (the dashboard, the CLI)
 * names this host's own fixes; `'fleet'` (the leader's Zulip bot) names fixes by their fleet
 * number (src/fleet/fix-refs.ts), and an approval, rejection, rollback or `show` of another host's
 * fix is sent to (or read from) that host. The allow-list is the bot's own check, before any of
 * these runs.
 */
export function fleetBotActions(
  actions: BotActions,
  fleet: Pick<FleetService, 'pool' | 'host'>,
  log: Log,
  ids: 'local' | 'fleet' = 'local',
): BotActions {
  const { pool, host } = fleet;
  const fleetWide = async (what: string, f: () => Promise<unknown>): Promise<string> => {
    try {
      await f();
      return ` (every host of the fleet)`;
    } catch (error) {
      log(`${what} not sent to the fleet: ${errorMessage(error)}`);
      return ` (this host only: the fleet did not answer: ${errorMessage(error)})`;
    }
  };
  /** A fleet number's fix: this host's own id, or a command sent to the host that made it. */
  const route = async (
    name: 'approve' | 'reject' | 'rollback',
    id: number,
    by: string,
    reason?: string,
  ): Promise<{ local: number } | { message: string }> => {
    if (ids === 'local') return { local: id };
    const target = await resolveFleetFixRef(pool, id);
    if (!target) return { message: `No fix ${id} in the fleet.` };
    if (target.host === host) return { local: target.localId };
    await routeFixCommand(pool, host, { name, fixId: target.localId, host: target.host, actor: by, reason });
    return { message: `${name} of fix ${id} (${target.host}'s fix ${target.localId}) sent to ${target.host}` };
  };
  const rollbackEverywhere = async (id: number | undefined, by: string) => {
    const local = await actions.rollback(id, by);
    const note = await fleetWide('rollback', () =>
      humanFleetRollback(pool, host, { actor: by, reason: `rollback${id !== undefined ? ` of fix ${id}` : ''}` }),
    );
    return { message: `${local.message}${note}` };
  };
  return {
    ...actions,
    async fixes() {
      const list = await actions.fixes();
      if (ids === 'local') return list;
      return Promise.all(list.map(async (f) => ({ ...f, id: await fleetFixRef(pool, host, f.id) })));
    },
    async show(id) {
      if (ids === 'local') return actions.show(id);
      const target = await resolveFleetFixRef(pool, id);
      if (!target) return undefined;
      const info =
        target.host === host
          ? await actions.show(target.localId)
          : ((await lastFixInfo(pool, target.host, target.localId)) as Awaited<ReturnType<BotActions['show']>>);
      return info ? { ...info, id } : undefined;
    },
    async approve(id, by) {
      const r = await route('approve', id, by);
      return 'local' in r ? actions.approve(r.local, by) : r;
    },
    async reject(id, by, reason) {
      const r = await route('reject', id, by, reason);
      return 'local' in r ? actions.reject(r.local, by, reason) : r;
    },
    async rollback(id, by) {
      if (id === undefined) return rollbackEverywhere(undefined, by);
      const r = await route('rollback', id, by);
      return 'local' in r ? rollbackEverywhere(r.local, by) : r;
    },
    async stop(by, reason) {
      // The fleet's stop (fleet:<actor>): a fleet resume from any host lifts it here too.
      const local = await actions.stop(`fleet:${by}`, reason);
      const note = await fleetWide('stop', () => humanFleetStop(pool, host, { engaged: true, actor: by, reason }));
      return { ...local, message: `${local.message}${note}` };
    },
    async resume(by) {
      const local = await actions.resume(by);
      const note = await fleetWide('resume', () => humanFleetStop(pool, host, { engaged: false, actor: by }));
      return { message: `${local.message}${note}` };
    },
  };
}
