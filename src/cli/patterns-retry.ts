/** `dancer patterns retry ID [--reason TEXT]`: a human reopens a pattern the loop escalated. */
import { reopenPattern } from '../fixes/index.js';
import { openStore } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions } from './common.js';
import { printJson } from './output.js';

/** Options of `dancer patterns retry`. */
export interface RetryOptions extends GlobalOptions {
  reason?: string;
  json?: boolean;
}

/** Lift the escalation of pattern `id` and give it a fresh attempt budget. */
export function retryPatternCommand(id: string, options: RetryOptions): void {
  const loaded = configFor(options);
  const db = openStore(dbPathFor(options, loaded));
  try {
    const by = process.env.USER ?? 'cli';
    const was = reopenPattern(db, id, `human:${by}`, options.reason ?? 'reopened by hand', Date.now());
    if (options.json) {
      printJson({ pattern: id, reopened: true, wasEscalated: was, by });
      return;
    }
    process.stdout.write(
      was
        ? `Pattern ${id} reopened: the next trigger may start a fix (${loaded.config.fixes.maxAttemptsPerPattern} attempts from now).\n`
        : `Pattern ${id} was not escalated; its attempt count starts again from now.\n`,
    );
  } finally {
    db.close();
  }
}
