import { isUtf8 } from 'node:buffer';
import { RECORD_FLAGS } from '../store/index.js';

/** Default for `capture.maxRecordBytes`: records up to 1 MiB are kept whole. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

/**
 * One physical line as cut from a byte stream, before decoding. A line longer than the limit is
 * never held whole in memory: only its first and last bytes are kept (`tail` is then set) and
 * `originalBytes` says how long it was.
 */
export interface RawLine {
  /** The line (without its newline), or its head when it was too long. */
  head: Buffer;
  /** The last bytes of a too-long line; null when the line is whole. */
  tail: Buffer | null;
  /** Length of the whole line in bytes (without the newline). */
  originalBytes: number;
  /** The stream ended before this line's newline. */
  partial: boolean;
}

/** A line decoded to text, with the {@link RECORD_FLAGS} describing what was repaired. */
export interface DecodedLine {
  text: string;
  flags: number;
  /** Set when the line was truncated. */
  originalBytes?: number | undefined;
}

/** Bytes kept at each end of a truncated line. */
export function truncationSizes(maxRecordBytes: number): { head: number; tail: number } {
  const keep = Math.max(2, maxRecordBytes - 64);
  const head = Math.ceil(keep / 2);
  return { head, tail: keep - head };
}

/**
 * Cuts a byte stream into {@link RawLine}s on `\n` (a `\r` before it is removed). Memory stays
 * bounded by `maxRecordBytes` whatever the input: a line longer than that keeps its head and
 * tail only.
 */
export class LineSplitter {
  private readonly max: number;
  private readonly headMax: number;
  private readonly tailMax: number;
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** Head of the current line once it became too long. */
  private overHead: Buffer | null = null;
  private overTotal = 0;

  constructor(maxRecordBytes = DEFAULT_MAX_RECORD_BYTES) {
    this.max = maxRecordBytes;
    const sizes = truncationSizes(maxRecordBytes);
    this.headMax = sizes.head;
    this.tailMax = sizes.tail;
  }

  /** Bytes held for the line in progress. */
  get pendingBytes(): number {
    return this.partsLen + (this.overHead?.length ?? 0);
  }

  /** Feed a chunk; calls `emit` for every complete line in it. */
  push(chunk: Buffer, emit: (line: RawLine) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      this.append(chunk.subarray(start, nl));
      emit(this.take(false));
      start = nl + 1;
    }
    if (start < chunk.length) this.append(chunk.subarray(start));
  }

  /** End of input: emits the unterminated last line, if any, marked `partial`. */
  end(emit: (line: RawLine) => void): void {
    if (this.partsLen > 0 || this.overHead !== null) emit(this.take(true));
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.overHead !== null && piece.length > this.tailMax) {
      // Only the end of an over-long line is kept: skip the middle without copying it.
      this.overTotal += piece.length - this.tailMax;
      piece = piece.subarray(piece.length - this.tailMax);
    }
    // Copy: the caller may reuse its chunk buffer.
    this.parts.push(Buffer.from(piece));
    this.partsLen += piece.length;
    if (this.overHead === null && this.partsLen > this.max) {
      const all = Buffer.concat(this.parts, this.partsLen);
      this.overHead = all.subarray(0, this.headMax);
      this.overTotal = all.length;
      this.parts = [all.subarray(this.headMax)];
      this.partsLen = all.length - this.headMax;
      this.trimTail();
    } else if (this.overHead !== null) {
      this.overTotal += piece.length;
      this.trimTail();
    }
  }

  private trimTail(): void {
    // Keep at most tailMax bytes (plus one part of slack) of the line's end.
    while (this.parts.length > 1 && this.partsLen - (this.parts[0]?.length ?? 0) >= this.tailMax) {
      this.partsLen -= this.parts.shift()?.length ?? 0;
    }
  }

  private take(partial: boolean): RawLine {
    let line: RawLine;
    if (this.overHead === null) {
      let head = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.partsLen);
      if (head.length > 0 && head[head.length - 1] === 13) head = head.subarray(0, head.length - 1);
      line = { head, tail: null, originalBytes: head.length, partial };
    } else {
      let rest = Buffer.concat(this.parts, this.partsLen);
      let total = this.overTotal;
      if (rest.length > 0 && rest[rest.length - 1] === 13) {
        rest = rest.subarray(0, rest.length - 1);
        total -= 1;
      }
      const tail = rest.subarray(Math.max(0, rest.length - this.tailMax));
      line = { head: this.overHead, tail, originalBytes: total, partial };
    }
    this.parts = [];
    this.partsLen = 0;
    this.overHead = null;
    this.overTotal = 0;
    return line;
  }
}

/** Turn a whole in-memory line (string or bytes) into a {@link RawLine}, truncating if needed. */
export function toRawLine(input: string | Buffer, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES, partial = false): RawLine {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  if (bytes.length <= maxRecordBytes) return { head: bytes, tail: null, originalBytes: bytes.length, partial };
  const { head, tail } = truncationSizes(maxRecordBytes);
  return {
    head: bytes.subarray(0, head),
    tail: bytes.subarray(bytes.length - tail),
    originalBytes: bytes.length,
    partial,
  };
}

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte escapes.
const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

/** Remove ANSI escape sequences (colours, cursor moves, titles). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

function cutHead(buf: Buffer): Buffer {
  // Do not end inside a UTF-8 sequence: drop a trailing incomplete one.
  let end = buf.length;
  let back = 0;
  while (back < 3 && end - back - 1 >= 0 && ((buf[end - back - 1] as number) & 0xc0) === 0x80) back++;
  const leadIndex = end - back - 1;
  if (leadIndex >= 0) {
    const lead = buf[leadIndex] as number;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (need > back + 1) end = leadIndex;
  }
  return buf.subarray(0, end);
}

function cutTail(buf: Buffer): Buffer {
  let start = 0;
  while (start < 3 && start < buf.length && ((buf[start] as number) & 0xc0) === 0x80) start++;
  return buf.subarray(start);
}

function decodeBytes(buf: Buffer): { text: string; flags: number } {
  let flags = 0;
  if (!isUtf8(buf)) flags |= RECORD_FLAGS.invalidUtf8;
  let text = buf.toString('utf8');
  if (buf.indexOf(0) !== -1) {
    text = text.replaceAll('\u0000', '');
    flags |= RECORD_FLAGS.nulRemoved;
  }
  if (text.includes('\x1b')) {
    const stripped = stripAnsi(text);
    if (stripped !== text) {
      text = stripped;
      flags |= RECORD_FLAGS.ansiStripped;
    }
  }
  return { text, flags };
}

/** The marker put between the head and the tail of a truncated line. */
export function truncationMarker(originalBytes: number): string {
  return ` …[dancer: truncated, ${originalBytes} bytes]… `;
}

/**
 * Decode a {@link RawLine} to text: invalid UTF-8 replaced (U+FFFD), NUL bytes removed, ANSI codes
 * stripped, a truncated line joined as head + marker + tail. Each repair sets its flag.
 */
export function decodeRawLine(line: RawLine): DecodedLine {
  let flags = line.partial ? RECORD_FLAGS.partialLine : 0;
  if (line.tail === null) {
    const d = decodeBytes(line.head);
    return { text: d.text, flags: flags | d.flags };
  }
  const head = decodeBytes(cutHead(line.head));
  const tail = decodeBytes(cutTail(line.tail));
  flags |= head.flags | tail.flags | RECORD_FLAGS.truncated;
  return {
    text: head.text + truncationMarker(line.originalBytes) + tail.text,
    flags,
    originalBytes: line.originalBytes,
  };
}
