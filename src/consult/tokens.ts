/**
 * Token estimates (pure). Dancer does not ship a tokenizer: it estimates one token per 4 bytes of
 * UTF-8, rounded up. Claude's tokenizers average 3.5-4.5 characters per token on English prose and
 * fewer on code and JSON, so the estimate errs on the small side for log JSON; keep
 * `consult.maxContextTokens` well under the model's window (the default 12k is ~6% of 200k).
 */

/** Estimated tokens of a text: `ceil(utf8Bytes / 4)`. */
export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
}
