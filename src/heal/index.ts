/**
 * The healing loop's public face: `dancer run` and the demo start it on a running service,
 * together with the Zulip bot when `notify.zulip` is configured.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { BotActions, NotifyFeed, ZulipBot } from '../notify/index.js';
import { createFixFeed, createNotifyHub, createZulipBot, type NotifyHub } from '../notify/index.js';
import type { Alert } from '../supervise/index.js';
import { createLiveActions } from './live-actions.js';
import { type HealingLoop, type HealingLoopOptions, startHealingLoop } from './loop.js';

export { consultReads } from './consult-reads.js';
export { templateStatusAfter, triggerToFixTrigger } from './decide.js';
export {
  createLiveActions,
  type LiveActions,
  type LiveActionsOptions,
  utcDayStart,
  watchEmergencyStop,
} from './live-actions.js';
export {
  type FleetGateHook,
  type FleetPipelineHook,
  type HealingLoop,
  type HealingLoopOptions,
  startHealingLoop,
} from './loop.js';
export { type Oversight, type OversightOptions, resumedBy, startOversight, stopResumeEvent } from './oversight.js';
export { type CrashReport, type RunningService, type RunServiceOptions, runService } from './run-service.js';

/**
 * Start the healing loop when the service has a git repository to fix (`fixes.repo`), else say
 * once why it is off and return undefined: capture, mining and triggers still run.
 */
export function startHealingIfPossible(options: HealingLoopOptions): HealingLoop | undefined {
  const log = options.log ?? ((m: string) => process.stderr.write(`dancer: ${m}\n`));
  const repo = options.loaded.resolve(options.loaded.config.fixes.repo);
  if (!existsSync(path.join(repo, '.git'))) {
    log(`self-healing is off: ${repo} is not a git repository (set fixes.repo); logs and patterns are still captured`);
    return undefined;
  }
  if (!options.running.detector) {
    log('self-healing is off: pattern detection is disabled');
    return undefined;
  }
  return startHealingLoop(options);
}

/** What `dancer run` adds to a running service: the healing loop and the Zulip bot. */
export interface Healing {
  loop: HealingLoop | undefined;
  bot: ZulipBot | undefined;
  hub: NotifyHub;
  /** Hand a supervisor alert to the notifications. */
  onAlert(alert: Alert): void;
  /**
   * Start the Zulip bot on `feed` (when `notify.zulip.site` is set and it is not running). With
   * `voice: 'deferred'` (a fleet) the fleet's leader calls this; otherwise it ran at start.
   */
  startBot(feed: NotifyFeed, wrap?: (actions: BotActions) => BotActions): ZulipBot | undefined;
  /** Stop the bot (a leader that steps down). Its pending messages stay in the outbox. */
  stopBot(): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startHealing}. */
export type HealingOptions = HealingLoopOptions & {
  /** `deferred`: do not start the Zulip bot; the caller starts it (the fleet's leader). Default `local`. */
  voice?: 'local' | 'deferred';
};

/**
 * Start the healing loop (when possible) and, when `notify.zulip.site` is set, the Zulip bot
 * with the same actions and a feed of every fix's life. A bot that cannot start (missing key,
 * bad .zuliprc) is reported and left off: the service and the loop run regardless.
 */
export function startHealing(options: HealingOptions): Healing {
  const log = options.log ?? ((m: string) => process.stderr.write(`dancer: ${m}\n`));
  const hub = options.hub ?? createNotifyHub();
  const loop = startHealingIfPossible({ ...options, hub, log });
  const db = options.running.db;
  const zulip = options.loaded.config.notify.zulip;
  const alertFeed = createFixFeed({ db, hub });
  let bot: ZulipBot | undefined;
  const startBot = (feed: NotifyFeed, wrap?: (actions: BotActions) => BotActions): ZulipBot | undefined => {
    if (!zulip?.site || bot) return bot;
    try {
      const actions: BotActions =
        loop?.actions ??
        createLiveActions({
          db,
          supervisor: options.running.supervisor,
          consult: options.loaded.config.consult,
          onBackgroundError: (error, context) => log(`${context}: ${errorMessage(error)}`),
        });
      bot = createZulipBot({
        settings: zulip,
        baseDir: options.loaded.dir,
        env: options.env ?? process.env,
        db,
        actions: wrap ? wrap(actions) : actions,
        feed,
        onError: (error, context) => log(`zulip ${context}: ${errorMessage(error)}`),
      });
      bot.start();
      log(`zulip: reporting to stream ${zulip.stream}; obeying ${zulip.allow.length} allow-listed user(s)`);
    } catch (error) {
      log(`zulip is off: ${errorMessage(error)}`);
      bot = undefined;
    }
    return bot;
  };
  const stopBot = async () => {
    const b = bot;
    bot = undefined;
    await b?.stop();
  };
  if (options.voice !== 'deferred') startBot(hub);
  return {
    loop,
    get bot() {
      return bot;
    },
    hub,
    onAlert: (alert) => alertFeed.onAlert(alert),
    startBot,
    stopBot,
    async stop() {
      await loop?.stop();
      await stopBot();
    },
  };
}
