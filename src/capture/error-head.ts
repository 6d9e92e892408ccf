/** The error type and message read from the first line of a printed error or stack trace. */
export interface ErrorHead {
  errType: string;
  errMessage?: string | undefined;
}

// "TypeError: x", "Uncaught Error: x", "java.lang.IllegalStateException: x", "ValueError: x", "KeyError"
const AT_START =
  /^(?:Uncaught\s+|Unhandled\s+(?:rejection\s+)?|Caused by:\s+|\[cause\]:\s+)?((?:[A-Za-z_$][\w$]*\.)*(?:[A-Z][\w$]*)?(?:Error|Exception|Exit|Interrupt|Fault|Panic))(?::\s?(.*))?$/;
// "Exception in thread "main" java.lang.X: msg", "failed: Error: boom"
const INSIDE = /(?:^|[\s:("'])((?:[A-Za-z_$][\w$]*\.)*(?:[A-Z][\w$]*)?(?:Error|Exception))(?::\s(.*))?$/;

/**
 * Read `Type: message` from the head line of an error print-out (Node, Python, Java, ...).
 * Returns undefined when the line does not name an error type.
 */
export function parseErrorHead(line: string): ErrorHead | undefined {
  const text = line.trim();
  if (text.length === 0 || text.length > 8192) return undefined;
  const m = AT_START.exec(text) ?? INSIDE.exec(text);
  if (!m || m[1] === undefined) return undefined;
  return { errType: m[1], errMessage: m[2] === undefined || m[2] === '' ? undefined : m[2] };
}

/** Python's last traceback line: `ValueError: bad`, `KeyError: 'x'`, `StopIteration`, `mod.Err: x`. */
export function parsePythonExceptionLine(line: string): ErrorHead | undefined {
  const m = /^((?:[A-Za-z_][\w]*\.)*[A-Za-z_][\w]*)(?::\s?(.*))?$/.exec(line.trim());
  if (!m || m[1] === undefined) return parseErrorHead(line);
  return { errType: m[1], errMessage: m[2] === undefined || m[2] === '' ? undefined : m[2] };
}
