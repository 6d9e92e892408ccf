/**
 * A copy of `s` that does not keep a larger string alive. Lines split from a big chunk (split2
 * in the pino worker) are V8 "sliced strings" that pin the whole chunk (megabytes) for as long
 * as one of them lives; a queue holding a few lines from many chunks would then hold every chunk.
 * Concatenating and slicing forces a flat copy the size of the line.
 */
export function detachString(s: string): string {
  return s.length < 13 ? s : ` ${s}`.slice(1);
}
