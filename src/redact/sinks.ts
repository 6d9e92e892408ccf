/**
 * Redaction for every sink that is not a consultation: Zulip messages and topics, webhooks, the
 * dashboard, `dancer logs export`, stored gate output. One shared redactor with the built-in
 * rules (emails on, IPs off); a sink that has the user's `consult.redact` settings can call
 * {@link configureSinkRedaction} once at start-up.
 */
import { createRedactor, type Redactor } from './engine.js';
import type { RedactOptions } from './rules.js';
import { redactTemplate } from './template.js';

let sinkRedactor: Redactor | undefined;

/** Use these options (e.g. `consult.redact` from dancer.yaml) for every later sink redaction. */
export function configureSinkRedaction(options: RedactOptions): void {
  sinkRedactor = createRedactor({ ...options, lengths: false });
}

function current(): Redactor {
  sinkRedactor ??= createRedactor();
  return sinkRedactor;
}

/**
 * Redact a text before it leaves Dancer through any sink (Zulip, webhooks, the dashboard,
 * exports). Idempotent: already redacted text comes back unchanged.
 */
export function redactForSinks(text: string): string {
  return current().redact(text);
}

/** {@link redactForSinks} over every string of a JSON-like value; values under secret-named keys blanked. */
export function redactDeepForSinks<T>(value: T): T {
  return current().redactDeep(value);
}

/** A mined template (with `<*>` wildcards) redacted for a sink: see {@link redactTemplate}. */
export function redactTemplateForSinks(template: string): string {
  return redactTemplate(template, current());
}
