import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { tempDbPath } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = path.join(here, 'fixtures', 'crash-writer.mjs');
const BATCH = 3000;

/**
 * Start the writer child, wait until it reports `killAfter` committed batches, kill -9 it at once
 * (it is then in the middle of its next batch), and return the batches it reported.
 */
async function ingestAndKill(file: string, firstBatch: number, killAfter: number): Promise<number[]> {
  const child = spawn(process.execPath, [fixture, file, String(BATCH), String(firstBatch)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = once(child, 'exit');
  const committed: number[] = [];
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const match = /^committed (\d+) (\d+)$/.exec(line);
    if (!match) continue;
    expect(Number(match[2])).toBe(BATCH);
    committed.push(Number(match[1]));
    if (committed.length >= killAfter) {
      child.kill('SIGKILL');
      break;
    }
  }
  const [code, signal] = await exited;
  expect({ code, signal, stderr }).toEqual({ code: null, signal: 'SIGKILL', stderr: '' });
  return committed;
}

describe('crash safety (kill -9 of the writing process)', () => {
  beforeAll(() => {
    if (!existsSync(path.join(here, '../../dist/store/index.js'))) {
      throw new Error('Run `npm run build` first: the fixture uses the built writer from dist/.');
    }
  });

  it('keeps every batch reported as committed, loses no batch half-way, and passes integrity_check', async () => {
    const file = tempDbPath();
    const reported: number[] = [];
    let first = 0;
    // Three crashes at different points, each restart appending to the same file.
    for (const killAfter of [2, 5, 3]) {
      const batches = await ingestAndKill(file, first, killAfter);
      reported.push(...batches);
      first = (batches.at(-1) ?? first) + 2; // skip the batch that may have been half-written
    }
    const db = openStore(file);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare("INSERT INTO logs_fts (logs_fts, rank) VALUES ('integrity-check', 0)").run()).toBeTruthy();
      const perBatch = new Map(
        (
          db.prepare('SELECT source, sum(count) AS n FROM logs GROUP BY source').all() as Array<{
            source: string;
            n: number;
          }>
        ).map((r) => [r.source, r.n]),
      );
      for (const batch of reported) expect(perBatch.get(`batch-${batch}`), `batch ${batch}`).toBe(BATCH);
      // Atomic batches: any batch present at all is complete (the one being written at the kill is
      // either fully there or absent).
      for (const [source, n] of perBatch) expect(n, source).toBe(BATCH);
      const indexed = db.prepare("SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'batch'").pluck().get();
      expect(indexed).toBe(db.prepare('SELECT count(*) FROM logs').pluck().get());
    } finally {
      db.close();
    }
  }, 60_000);
});
