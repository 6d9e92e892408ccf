import { migration001Logs } from './001-logs.js';
import type { Migration } from './types.js';

/**
 * Every migration, in order. Version numbers are assigned per stage so that stages can add
 * tables independently: 1-9 logs/capture, 10-19 patterns, 20-29 consult, 30-39 fixes,
 * 40-49 supervise, 50-59 notify/audit, 60-69 dashboard. Never change a migration that shipped:
 * add a new one.
 */
export const MIGRATIONS: readonly Migration[] = [migration001Logs];

export type { Migration } from './types.js';
