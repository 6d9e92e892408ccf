/**
 * What `dancer run` adds on a host when dancer.yaml has a `fleet:` section: the schema migrated,
 * the heartbeat agent (counts, outbox, partition detection), the LISTEN/NOTIFY listener (stop,
 * resume, rollback mirrored here), the leader election, the rollout worker, and the gate the
 * healing loop asks before it consults. Nothing here is on the service's path: when PostgreSQL
 * is down the host serves and captures as before, and the fleet parts retry in the background.
 */
import type { FleetSettings } from '../config/index.js';
import { errorMessage } from '../errors.js';
import type { Db } from '../store/index.js';
import type { Supervisor } from '../supervise/index.js';
import { type FleetAgent, startFleetAgent } from './agent.js';
import { type FleetPool, fleetHostName, fleetUrl, migrateFleet, openFleetPool } from './connect.js';
import { createRemoteCounts } from './counts.js';
import { createFleetGate, type FleetGateDecision, type FleetTriggerInput } from './gate.js';
import { type LeaderElection, startLeaderElection } from './leader.js';
import { createFleetPipeline, type FleetPipeline } from './rollout-handoff.js';
import { type RolloutWorker, startRolloutWorker, supervisorDeployer } from './rollout-worker.js';
import { type FleetListener, listenFleet } from './signals.js';
import { mirrorStop, syncStop } from './stop.js';
import { publishVoice, startVoiceRelay, type VoiceChannel, type VoiceEvent, type VoiceRelay } from './voice.js';

/** Options of {@link startFleetService}. */
export interface FleetServiceOptions {
  settings: FleetSettings;
  db: Db;
  supervisor: Supervisor;
  /** The service's git checkout, and the shared remote every host fetches fixes from. */
  repo: string;
  remote: string;
  cooldownMinutes: number;
  /** The longest trigger window (minutes) the fleet-wide counts must cover. Default 10. */
  countsWindowMinutes?: number;
  /**
   * The fleet's one voice on this host: started when this host becomes the leader, stopped when
   * it stops being; `deliver` takes each event of the fleet (every host's) while it leads.
   */
  voice?:
    | {
        start(): void;
        stop(): Promise<void>;
        /** Returns a receipt (JSON) naming what it queued (see `VoiceRelayOptions.deliver`). */
        deliver(event: VoiceEvent): unknown;
        settled?(receipt: unknown): boolean;
        discard?(receipt: unknown): void;
        /**
         * Can the voice take events now (its bot and webhook sender are attached)? Until then the
         * leader leaves the fleet's events unclaimed rather than hand them to nobody. Default: yes.
         */
        ready?(): boolean;
      }
    | undefined;
  /** An approval or rejection a human gave on another host for a fix of this host. */
  onFixCommand?:
    | ((c: { name: 'approve' | 'reject' | 'rollback'; fixId: number; actor: string; reason?: string }) => Promise<void>)
    | undefined;
  /** The branch fixes merge into (`fixes.mainBranch`); default: the checkout's current branch. */
  mainBranch?: string | undefined;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
}

/** The fleet side of a running host. */
export interface FleetService {
  host: string;
  pool: FleetPool;
  /** The gate the healing loop asks before consulting (a skip while the fleet is not ready). */
  gate(input: FleetTriggerInput): Promise<FleetGateDecision>;
  /**
   * The lease holder's hand-off to the rollout, for the healing loop: its deploy and observe go
   * through the fleet (push, `createRollout`, this host the canary) and each fix transition
   * persists the lease's stage. See src/fleet/rollout-handoff.ts.
   */
  pipeline: FleetPipeline;
  isLeader(): boolean;
  /** Other hosts' counts of a local template (the detector's fleet-wide counts). */
  remoteCounts(templateId: number, fromMinute: number, toMinute: number): { count: number; errors: number } | undefined;
  /** Queue something for the fleet's one voice (shipped at once when PostgreSQL answers). */
  publish(channel: VoiceChannel, payload: unknown): void;
  /** Resolves once the schema is migrated and every part runs. */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/** Start the fleet side of this host. Returns at once; the parts start once PostgreSQL answers. */
export function startFleetService(o: FleetServiceOptions): FleetService {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  const host = fleetHostName(o.settings);
  const url = fleetUrl(o.settings, o.env);
  const pool = openFleetPool(url, {}, (e) => log(`idle connection lost: ${errorMessage(e)}`));
  let agent: FleetAgent | undefined;
  let listener: FleetListener | undefined;
  let leader: LeaderElection | undefined;
  let worker: RolloutWorker | undefined;
  let gate: ((i: FleetTriggerInput) => Promise<FleetGateDecision>) | undefined;
  let relay: VoiceRelay | undefined;
  const counts = createRemoteCounts({ db: o.db, host, windowMinutes: o.countsWindowMinutes ?? 10 });
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let sweep: NodeJS.Timeout | undefined;
  let markReady: () => void = () => undefined;
  const pipeline = createFleetPipeline({
    pool,
    db: o.db,
    host,
    leaseSeconds: o.settings.leaseSeconds,
    canary: o.settings.canary,
    waveSize: o.settings.waveSize,
    cooldownMinutes: o.cooldownMinutes,
    repo: o.repo,
    remote: o.remote,
    mainBranch: o.mainBranch,
    canAct: () => agent?.canAct() ?? false,
    onRollout: () => void worker?.poke(),
    log,
  });
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const startParts = () => {
    agent = startFleetAgent({
      pool,
      db: o.db,
      host,
      leaseSeconds: o.settings.leaseSeconds,
      release: () => o.supervisor.currentRelease(),
      log,
      onBeat: () => counts.refresh(pool),
    });
    const a = agent;
    worker = startRolloutWorker({
      pool,
      host,
      deployer: supervisorDeployer({
        supervisor: o.supervisor,
        repo: o.repo,
        remote: o.remote,
        mainBranch: o.mainBranch,
        localFix: (commit) => pipeline.localFixFor(commit),
        log,
      }),
      canAct: () => a.canAct(),
      log,
    });
    const w = worker;
    listener = listenFleet({
      url,
      log,
      onSignal: (s) => {
        if (s.kind === 'stop' || s.kind === 'resume') {
          if (mirrorStop(o.db, { engaged: s.kind === 'stop', actor: s.actor, reason: s.reason })) {
            log(
              `${s.kind === 'stop' ? 'emergency stop engaged' : 'emergency stop lifted'} fleet-wide by ${s.actor} (from ${s.from})`,
            );
          }
        } else if (s.kind === 'command') {
          if (s.name && s.fixId !== undefined && s.host === host && o.onFixCommand) {
            log(`${s.name} of fix ${s.fixId} from ${s.actor} via ${s.from}`);
            const c = { name: s.name, fixId: s.fixId, actor: s.actor, ...(s.reason ? { reason: s.reason } : {}) };
            o.onFixCommand(c).catch((e) => log(`${s.name} of fix ${s.fixId} failed: ${errorMessage(e)}`));
          }
        } else if (s.kind === 'voice') {
          void relay?.poke();
        } else {
          w.onSignal(s);
        }
      },
      onReconnect: () => {
        syncStop(pool, o.db).catch((e) => log(`stop sync failed: ${errorMessage(e)}`));
        void w.poke();
      },
    });
    const voice = o.voice;
    if (voice) {
      relay = startVoiceRelay({
        pool,
        host,
        isLeader: () => leader?.isLeader() ?? false,
        ready: voice.ready ? () => voice.ready?.() ?? true : undefined,
        deliver: (e) => voice.deliver(e),
        settled: voice.settled ? (r) => voice.settled?.(r) ?? true : undefined,
        discard: voice.discard ? (r) => voice.discard?.(r) : undefined,
        log,
      });
    }
    leader = startLeaderElection({
      url,
      host,
      leaseSeconds: o.settings.leaseSeconds,
      log,
      onChange: (isLeader) => {
        if (!voice) return;
        if (isLeader) {
          // What this host queued as an earlier leader and the next leader posted goes first.
          const r = relay;
          void (r ? r.takeOver() : Promise.resolve(0))
            .catch((e) => log(`voice take-over: ${errorMessage(e)}`))
            .then(() => {
              if (!leader?.isLeader()) return;
              voice.start();
              void r?.poke();
            });
        } else {
          voice.stop().catch((e) => log(`voice stop: ${errorMessage(e)}`));
        }
      },
    });
    gate = createFleetGate({
      pool,
      db: o.db,
      agent: a,
      host,
      leaseSeconds: o.settings.leaseSeconds,
      cooldownMinutes: o.cooldownMinutes,
      log,
      pipeline,
    });
    // A dead lease holder's merged fix is rolled out by a live host even without a new trigger.
    sweep = setInterval(
      () => void pipeline.resumeOrphans().catch((e) => log(`resuming orphaned work: ${errorMessage(e)}`)),
      Math.min(5000, (o.settings.leaseSeconds * 1000) / 2),
    );
    sweep.unref();
    markReady();
  };

  const boot = async () => {
    try {
      const applied = await migrateFleet(pool);
      if (applied.length > 0) log(`fleet schema migrated (${applied.join(', ')})`);
      if (stopped) return;
      log(`host ${host} joined the fleet`);
      startParts();
    } catch (error) {
      log(`control plane not ready (${errorMessage(error)}); serving locally, retrying`);
      if (!stopped) {
        retry = setTimeout(() => void boot(), 5000);
        retry.unref();
      }
    }
  };
  void boot();

  return {
    host,
    pool,
    gate: (input) =>
      gate ? gate(input) : Promise.resolve({ kind: 'skip', reason: 'fleet: not connected to the control plane yet' }),
    pipeline,
    isLeader: () => leader?.isLeader() ?? false,
    remoteCounts: (id, from, to) => counts.counts(id, from, to),
    publish(channel, payload) {
      publishVoice(o.db, channel, payload);
      void agent?.tick();
    },
    ready: () => readyPromise,
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await relay?.stop();
      if (sweep) clearInterval(sweep);
      await worker?.stop();
      await listener?.stop();
      await leader?.stop();
      await agent?.stop();
      await pool.query(`UPDATE fleet_hosts SET state = 'stopped' WHERE name = $1`, [host]).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
