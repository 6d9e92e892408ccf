import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LogRecord } from '../../src/store/records.js';

/** A fresh temp dir for one test's database files. */
export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'dancer-store-'));
}

/** A fresh database path in a temp dir. */
export function tempDbPath(): string {
  return path.join(tempDir(), 'dancer.db');
}

/** A record with defaults (info, pid 1, stream stdout) and `over` applied. */
export function rec(over: Partial<LogRecord> = {}): LogRecord {
  return { ts: 1_700_000_000_000, level: 30, message: 'hello', pid: 1, stream: 'stdout', ...over };
}

/** Poll `check` until it returns a value other than undefined, or fail after `ms`. */
export async function waitFor<T>(check: () => T | undefined, ms = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
