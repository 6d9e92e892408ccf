/**
 * Bounded memos of the per-token masking (masks.ts): raw token text → masked token. Masking a
 * token is a pure function of its text under one masker, and log lines repeat their words, so the
 * second time a token is seen its answer is looked up instead of recomputed. The lookup is by the
 * token's characters inside the line (a hash the scan computes as it reads them), so a hit builds
 * no substring: it returns the same masked string object every time, which also makes the
 * index's string comparisons and map lookups cheap (identical strings, hashes already computed).
 * Not an answer cache of the miner: they hold no state of the miner and never change an answer.
 *
 * Two kinds: {@link ByteMemo} for ASCII lines (the scan reads them as bytes; keys are bytes in an
 * arena, so a hit costs no string call), {@link TokenMemo} for other lines (keys are strings).
 * Both use open addressing with linear probing and are cleared whole when half full: a bound,
 * never a leak.
 */

/** FNV-1a, 32 bits: the scan folds each character code in with {@link hashStep}. */
export const HASH_START = 0x811c9dc5 | 0;
/** One step of the hash: `h = hashStep(h, charCode)`. */
export function hashStep(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}

/** Tokens longer than this are masked every time (long tokens are mostly unique values). */
export const MEMO_MAX_TOKEN = 64;

/** Keys are strings (lines with characters outside ASCII). */
export class TokenMemo {
  readonly #mask: number;
  readonly #limit: number;
  #keys: (string | undefined)[];
  #values: string[];
  #hashes: Int32Array;
  #size = 0;

  /** @param bits log2 of the number of slots */
  constructor(bits = 13) {
    const slots = 1 << bits;
    this.#mask = slots - 1;
    this.#limit = slots >>> 1;
    this.#keys = new Array<string | undefined>(slots).fill(undefined);
    this.#values = new Array<string>(slots).fill('');
    this.#hashes = new Int32Array(slots);
  }

  /** The masked form of `line[start, start + length)` whose hash is `h`, if known. */
  get(line: string, start: number, length: number, h: number): string | undefined {
    const keys = this.#keys;
    const mask = this.#mask;
    let slot = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const key = keys[slot];
      if (key === undefined) return undefined;
      if (this.#hashes[slot] === h && key.length === length && line.startsWith(key, start)) return this.#values[slot];
      slot = (slot + 1) & mask;
    }
  }

  /** Remember `value` for `key` (whose hash is `h`; the caller looked it up and missed). */
  set(key: string, h: number, value: string): void {
    if (this.#size >= this.#limit) {
      this.#keys.fill(undefined);
      this.#size = 0;
    }
    const keys = this.#keys;
    const mask = this.#mask;
    let slot = (h ^ (h >>> 15)) & mask;
    while (keys[slot] !== undefined) slot = (slot + 1) & mask;
    keys[slot] = key;
    this.#values[slot] = value;
    this.#hashes[slot] = h;
    this.#size++;
  }
}

/** Keys are the bytes of ASCII tokens, kept in one arena. */
export class ByteMemo {
  readonly #mask: number;
  readonly #limit: number;
  /** Key length per slot; 0 is an empty slot (a token is never empty). */
  readonly #lengths: Uint8Array;
  readonly #starts: Int32Array;
  readonly #hashes: Int32Array;
  readonly #values: string[];
  #arena = new Uint8Array(1 << 14);
  #top = 0;
  #size = 0;

  /** @param bits log2 of the number of slots */
  constructor(bits = 15) {
    const slots = 1 << bits;
    this.#mask = slots - 1;
    this.#limit = slots >>> 1;
    this.#lengths = new Uint8Array(slots);
    this.#starts = new Int32Array(slots);
    this.#hashes = new Int32Array(slots);
    this.#values = new Array<string>(slots).fill('');
  }

  /** The masked form of the token `bytes[start, start + length)` whose hash is `h`, if known. */
  get(bytes: Uint8Array, start: number, length: number, h: number): string | undefined {
    const lengths = this.#lengths;
    const mask = this.#mask;
    let slot = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const len = lengths[slot] as number;
      if (len === 0) return undefined;
      if (
        len === length &&
        this.#hashes[slot] === h &&
        this.#same(this.#starts[slot] as number, bytes, start, length)
      ) {
        return this.#values[slot];
      }
      slot = (slot + 1) & mask;
    }
  }

  /** Remember `value` for the token `bytes[start, start + length)` (looked up and missed). */
  set(bytes: Uint8Array, start: number, length: number, h: number, value: string): void {
    if (this.#size >= this.#limit) {
      this.#lengths.fill(0);
      this.#size = 0;
      this.#top = 0;
    }
    if (this.#top + length > this.#arena.length) {
      const bigger = new Uint8Array(this.#arena.length * 2);
      bigger.set(this.#arena.subarray(0, this.#top));
      this.#arena = bigger;
    }
    const lengths = this.#lengths;
    const mask = this.#mask;
    let slot = (h ^ (h >>> 15)) & mask;
    while (lengths[slot] !== 0) slot = (slot + 1) & mask;
    const at = this.#top;
    this.#arena.set(bytes.subarray(start, start + length), at);
    this.#top = at + length;
    lengths[slot] = length;
    this.#starts[slot] = at;
    this.#hashes[slot] = h;
    this.#values[slot] = value;
    this.#size++;
  }

  #same(at: number, bytes: Uint8Array, start: number, length: number): boolean {
    const arena = this.#arena;
    for (let i = 0; i < length; i++) if (arena[at + i] !== bytes[start + i]) return false;
    return true;
  }
}
