import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { DancerError, errorMessage } from '../errors.js';

/** Options for {@link followFile}. */
export interface FollowOptions {
  /** How often to look for growth, truncation and rotation when idle. Default 200 ms. */
  pollMs?: number | undefined;
  /** Stop following (the generator returns after reading what is there). */
  signal?: AbortSignal | undefined;
  /** Told about rotations and truncations (for progress output). */
  onEvent?: ((event: FollowEvent) => void) | undefined;
  /** Read size. Default 256 KiB. */
  chunkBytes?: number | undefined;
}

/** Something that happened to the followed file. */
export type FollowEvent =
  | { kind: 'rotated'; path: string }
  | { kind: 'truncated'; path: string; from: number }
  | { kind: 'waiting'; path: string };

/**
 * Read a file from its start and keep reading as it grows, like `tail -F -n +1`: a truncated
 * file is read again from its start; a rotated file (renamed, and a new file created at the
 * path) is read to its end and then the new file is followed from its start. Yields chunks;
 * returns when `signal` aborts.
 *
 * @throws {DancerError} `DANCER_CAPTURE_INPUT_FAILED` when the file cannot be opened at first.
 */
export async function* followFile(file: string, options: FollowOptions = {}): AsyncGenerator<Buffer> {
  const pollMs = options.pollMs ?? 200;
  const buf = Buffer.alloc(options.chunkBytes ?? 256 * 1024);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot open ${file}: ${errorMessage(error)}`, {
      cause: error,
      details: { file },
    });
  }
  let position = 0;
  let ino = fstatSync(fd).ino;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, position);
      if (n > 0) {
        position += n;
        yield Buffer.from(buf.subarray(0, n));
        continue;
      }
      // At the end of the open file: has it been truncated or replaced?
      const size = fstatSync(fd).size;
      if (size < position) {
        options.onEvent?.({ kind: 'truncated', path: file, from: position });
        position = 0;
        continue;
      }
      let current: { ino: number } | undefined;
      try {
        current = statSync(file);
      } catch {
        current = undefined; // renamed away, the new file is not there yet
      }
      if (current !== undefined && current.ino !== ino) {
        // Rotated: the old file was read to its end above; switch to the new one.
        let next: number;
        try {
          next = openSync(file, 'r');
        } catch {
          next = -1;
        }
        if (next !== -1) {
          // Lines written to the old file just before it was renamed: read them first.
          for (;;) {
            const m = readSync(fd, buf, 0, buf.length, position);
            if (m <= 0) break;
            position += m;
            yield Buffer.from(buf.subarray(0, m));
          }
          closeSync(fd);
          fd = next;
          ino = fstatSync(fd).ino;
          position = 0;
          options.onEvent?.({ kind: 'rotated', path: file });
          continue;
        }
      }
      if (options.signal?.aborted) return;
      await waitOrAbort(pollMs, options.signal);
    }
  } finally {
    closeSync(fd);
  }
}

function waitOrAbort(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
