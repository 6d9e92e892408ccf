/**
 * Which store changes become which webhook events (pure): a fix transition is `fix_state`, a
 * deploy `deploy`, a rollback `rollback`, the emergency stop `stop` and `resume`, and a detector
 * decision that fired `pattern_fired`. Suppressed decisions and audit rows are not sent.
 */
import type { StoreChange } from '../store-watch.js';

/** The events a webhook can subscribe to. */
export type WebhookEvent = 'fix_state' | 'deploy' | 'rollback' | 'stop' | 'resume' | 'pattern_fired';

/** The webhook event for a change, or undefined when webhooks do not carry it. */
export function webhookEventOf(change: StoreChange): WebhookEvent | undefined {
  switch (change.type) {
    case 'fix_state':
    case 'deploy':
    case 'rollback':
    case 'stop':
    case 'resume':
      return change.type;
    case 'decision':
      return change.outcome === 'fire' ? 'pattern_fired' : undefined;
    default:
      return undefined;
  }
}

/** The JSON body of a delivery. `data` is the change as the store recorded it. */
export function webhookBody(event: WebhookEvent, delivery: string, service: string, change: StoreChange): string {
  const { type: _type, ...data } = change;
  return JSON.stringify({ event, delivery, service, at: change.at, data });
}
