/**
 * The text a record is mined as. For an error it is the log text AND the error (type and first
 * line of its message), so a pattern's name shows what differs: three bugs that all log
 * `checkout failed` become `checkout failed: TypeError: Cannot read properties of undefined
 * (reading 'percent')`, `checkout failed: Error: unsupported currency EUR`, and so on, each its
 * own template, told apart by what people read, not by a hidden stack fingerprint alone.
 */

/** Longest error message part kept in the mined text (its first line). */
const MAX_ERROR_CHARS = 200;

/** What {@link patternText} reads of a record (stored rows may hold null). */
export interface PatternTextInput {
  message: string;
  errType?: string | null | undefined;
  errMessage?: string | null | undefined;
}

/**
 * The text to mine for `record` (see the module comment). Matching a template against a stored
 * record (to read its parameters) takes this text too, not the bare message.
 */
export function patternText(record: PatternTextInput): string {
  const errMessage = firstLine(record.errMessage ?? undefined);
  const base = record.message !== '' ? record.message : (errMessage ?? '');
  const type = record.errType || undefined;
  if (type === undefined && errMessage === undefined) return base;
  // When the log text is the error's own message (pino's default), the type goes before it; when
  // it already says it (`TypeError: x is not a function` on stderr), it is left as it is.
  const error = type !== undefined && errMessage !== undefined ? `${type}: ${errMessage}` : (type ?? errMessage ?? '');
  if (base === '' || base === errMessage) return error;
  if (base.includes(error) || (errMessage !== undefined && base.includes(errMessage))) return base;
  return `${base}: ${error}`;
}

function firstLine(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  const nl = text.indexOf('\n');
  const line = (nl >= 0 ? text.slice(0, nl) : text).trim();
  if (line === '') return undefined;
  return line.length > MAX_ERROR_CHARS ? line.slice(0, MAX_ERROR_CHARS) : line;
}
