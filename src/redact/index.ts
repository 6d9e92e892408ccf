/**
 * Redaction, the pure core every sink shares: secrets and personal data become typed
 * placeholders such as `[REDACTED:aws_access_key]` before any text leaves the host or (with
 * `store.redactAtIngest`) reaches the store. See docs/security.md for the formats recognised.
 */
export { createRedactor, type Redactor, redact } from './engine.js';
export { fenceLines, newBoundary, quoteUntrusted } from './fence.js';
export { isSecretKey, type Placeholder, redactKeyValues } from './keys.js';
export { redactIngestRecord } from './record.js';
export {
  builtinRules,
  isCardNumber,
  placeholder,
  placeholderFor,
  type RedactOptions,
  type RedactRule,
  triggerTest,
} from './rules.js';
export { looksLikeAwsSecret, luhnValid, redactAwsSecrets, redactEmails } from './scan.js';
export { configureSinkRedaction, redactDeepForSinks, redactForSinks, redactTemplateForSinks } from './sinks.js';
export { type RedactedParam, type RedactedParams, redactedParams, redactTemplate, templateParams } from './template.js';
