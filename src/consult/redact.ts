/**
 * Redaction as the consultation uses it: the engine lives in src/redact (shared with the store's
 * ingest pass and every other sink); this module keeps the consult-side import path.
 */
export * from '../redact/index.js';
