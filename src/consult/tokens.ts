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

/** Cut a text to at most `maxTokens` (estimated), on a line boundary when possible, with a marker. */
export function truncateToTokens(text: string, maxTokens: number, marker = '… (truncated)'): string {
  if (estimateTokens(text) <= maxTokens) return text;
  const budgetBytes = Math.max(0, maxTokens * 4 - Buffer.byteLength(marker) - 1);
  let cut = Buffer.from(text, 'utf8').subarray(0, budgetBytes).toString('utf8');
  // Drop a trailing partial character and prefer the last full line.
  cut = cut.replace(/\uFFFD$/, '');
  const nl = cut.lastIndexOf('\n');
  if (nl > cut.length / 2) cut = cut.slice(0, nl);
  return `${cut}\n${marker}`;
}
