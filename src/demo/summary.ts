/**
 * The demo's summary: the times that matter, computed from milestones (pure), and its rendering.
 */

/** Times (ms since epoch) the demo observed, each undefined until it happened. */
export interface DemoMilestones {
  firstErrorAt?: number | undefined;
  detectedAt?: number | undefined;
  consultStartedAt?: number | undefined;
  fixReadyAt?: number | undefined;
  liveAt?: number | undefined;
  confirmedAt?: number | undefined;
  badFixLiveAt?: number | undefined;
  rolledBackAt?: number | undefined;
}

/** `npm run -s demo -- --json` prints this object. */
export interface DemoSummary {
  /** `healed` when act one deployed a fix and act two rolled the bad one back. */
  outcome: 'healed' | 'failed';
  /** Where it stopped, when it failed. */
  failure?: string | undefined;
  model: 'scripted' | 'claude';
  /** First 5xx answer -> the trigger fired. */
  detectSeconds: number | null;
  /** Trigger -> the fix passed the gate and the policy (consultation + gate). */
  fixSeconds: number | null;
  /** Gate passed -> the fixed release serves traffic (build + zero-downtime handoff). */
  deploySeconds: number | null;
  /** First error -> the fix serves traffic. */
  mttrSeconds: number | null;
  /** First error -> the observation window confirmed the fix. */
  confirmedSeconds: number | null;
  /** Requests that got no HTTP answer (reset, refused, timeout) during the whole demo. */
  failedRequests: number;
  requests: number;
  /** 5xx answers during the whole demo. */
  serverErrors: number;
  /** ...of which from the planted bugs (lower-case coupons, EUR orders). */
  serverErrorsPlanted: number;
  /** ...and the rest (e.g. ordinary requests broken by the bad fix before its rollback). */
  serverErrorsOther: number;
  /** The buggy pattern's 5xx answers after the fix went live (0 when healed). */
  errorsAfterFix: number | null;
  rolledBack: boolean;
  rollbackReason: string | null;
  /** Bad fix live -> previous release serving again. */
  rollbackSeconds: number | null;
  costUsd: number;
  repo: string;
  changelog: string | null;
  /** Messages on the Zulip test server (with --zulip), else null. */
  zulipMessages: number | null;
}

const seconds = (from: number | undefined, to: number | undefined): number | null =>
  from === undefined || to === undefined ? null : Math.round((to - from) / 100) / 10;

/** The timing figures of the summary. */
export function timings(m: DemoMilestones) {
  return {
    detectSeconds: seconds(m.firstErrorAt, m.detectedAt),
    fixSeconds: seconds(m.detectedAt, m.fixReadyAt),
    deploySeconds: seconds(m.fixReadyAt, m.liveAt),
    mttrSeconds: seconds(m.firstErrorAt, m.liveAt),
    confirmedSeconds: seconds(m.firstErrorAt, m.confirmedAt),
    rollbackSeconds: seconds(m.badFixLiveAt, m.rolledBackAt),
  };
}

/** Request kinds that hit a bug planted in the example service. */
export const PLANTED_BUG_KINDS: readonly string[] = ['coupon-lower', 'eur'];

/** Split 5xx answers by request kind into the planted bugs and the rest. */
export function splitServerErrors(
  byKind: Readonly<Record<string, number>>,
  planted: readonly string[] = PLANTED_BUG_KINDS,
): { serverErrors: number; serverErrorsPlanted: number; serverErrorsOther: number } {
  let total = 0;
  let fromPlanted = 0;
  for (const [kind, n] of Object.entries(byKind)) {
    total += n;
    if (planted.includes(kind)) fromPlanted += n;
  }
  return { serverErrors: total, serverErrorsPlanted: fromPlanted, serverErrorsOther: total - fromPlanted };
}

/**
 * Human-readable summary lines. `dancer` is how to run the CLI from the demo repository (the
 * demo passes `node <its own bin/dancer.js>`, which works as printed where `npx dancer` would not).
 */
export function renderSummary(s: DemoSummary, dancer = 'npx dancer'): string {
  const f = (v: number | null) => (v === null ? 'n/a' : `${v} s`);
  const lines = [
    '',
    `Summary (${s.model === 'scripted' ? 'offline: scripted model server' : 'real Claude'}): ${s.outcome.toUpperCase()}${s.failure ? ` (${s.failure})` : ''}`,
    `  first error -> detected        ${f(s.detectSeconds)}`,
    `  detected -> fix passed gate    ${f(s.fixSeconds)}`,
    `  gate -> fix serving            ${f(s.deploySeconds)}`,
    `  first error -> fix serving     ${f(s.mttrSeconds)}   (confirmed by the observation window: ${f(s.confirmedSeconds)})`,
    `  bad fix rolled back            ${s.rolledBack ? `yes, in ${f(s.rollbackSeconds)}: ${s.rollbackReason ?? ''}` : 'no'}`,
    `  failed requests                ${s.failedRequests} of ${s.requests} (no HTTP answer)`,
    `  5xx answers                    ${s.serverErrors}: ${s.serverErrorsPlanted} from the planted bugs, ${s.serverErrorsOther} other`,
    `  pattern errors after the fix   ${s.errorsAfterFix ?? 'n/a'}`,
    `  model cost                     $${s.costUsd.toFixed(4)}`,
    ...(s.zulipMessages === null
      ? []
      : [`  Zulip messages                 ${s.zulipMessages} (bot reports, approval requests, alice's approvals)`]),
    '',
    'Where to look next:',
    `  cd ${s.repo}`,
    '  git log --graph --oneline --all      # fix and rollback branches, merges, dancer-before-* tags',
    `  ${s.changelog ? `less ${s.changelog}` : `${dancer} changelog`}    # the changelog of every fix`,
    `  ${dancer} fixes list    # fixes and their states`,
    `  ${dancer} patterns    # mined patterns, statuses and trends`,
    `  ${dancer} logs errors --since 1h    # the errors behind them`,
  ];
  return `${lines.join('\n')}\n`;
}
