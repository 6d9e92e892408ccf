import { migration001Logs } from './001-logs.js';
import { migration010Templates } from './010-templates.js';
import { migration011TemplateBuckets } from './011-template-buckets.js';
import { migration012Decisions } from './012-decisions.js';
import { migration020Consultations } from './020-consultations.js';
import { migration030Fixes } from './030-fixes.js';
import { migration031FixAttempts } from './031-fix-attempts.js';
import { migration035GateHonesty } from './035-gate-honesty.js';
import { migration040Supervise } from './040-supervise.js';
import { migration041ReleaseQuality } from './041-release-quality.js';
import { migration050Notify } from './050-notify.js';
import { migration051Webhooks } from './051-webhooks.js';
import { migration070Fleet } from './070-fleet.js';
import type { Migration } from './types.js';

/**
 * Every migration, in order. Version numbers are assigned per stage so that stages can add
 * tables independently: 1-9 logs/capture, 10-19 patterns, 20-29 consult, 30-39 fixes,
 * 40-49 supervise, 50-59 notify/audit, 60-69 dashboard, 70-79 fleet. Never change a migration that shipped:
 * add a new one.
 */
export const MIGRATIONS: readonly Migration[] = [
  migration001Logs,
  migration010Templates,
  migration011TemplateBuckets,
  migration012Decisions,
  migration020Consultations,
  migration030Fixes,
  migration031FixAttempts,
  migration035GateHonesty,
  migration040Supervise,
  migration041ReleaseQuality,
  migration050Notify,
  migration051Webhooks,
  migration070Fleet,
];

export type { Migration } from './types.js';
