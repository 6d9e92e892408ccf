/**
 * The store's ingest pass (`store.redactAtIngest`): a record's free text and extra fields are
 * redacted before it is written, so a secret never reaches the database (nor its full-text index)
 * in clear. Placeholders carry the replaced length: `[REDACTED:secret 12 chars]`.
 */
import type { Redactor } from './engine.js';

/** The fields of a log record that can hold a secret (structurally, a subset of the store's `LogRecord`). */
export interface RedactableRecord {
  message: string;
  errMessage?: string | undefined;
  stack?: string | undefined;
  httpRoute?: string | undefined;
  extra?: Record<string, unknown> | undefined;
}

/** Redact a record in place (the writer owns it). Returns true when its text fields changed. */
export function redactIngestRecord(record: RedactableRecord, redactor: Redactor): boolean {
  let changed = false;
  const message = redactor.redact(record.message);
  if (message !== record.message) {
    record.message = message;
    changed = true;
  }
  if (record.errMessage) {
    const v = redactor.redact(record.errMessage);
    if (v !== record.errMessage) [record.errMessage, changed] = [v, true];
  }
  if (record.stack) {
    const v = redactor.redact(record.stack);
    if (v !== record.stack) [record.stack, changed] = [v, true];
  }
  if (record.httpRoute) {
    const v = redactor.redact(record.httpRoute);
    if (v !== record.httpRoute) [record.httpRoute, changed] = [v, true];
  }
  if (record.extra) record.extra = redactor.redactDeep(record.extra);
  return changed;
}
