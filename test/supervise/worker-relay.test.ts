/**
 * The log relay of a worker that outlives its supervisor (`outliveSupervisor`, socket-activated
 * `dancer run`): every line the worker writes reaches the reader complete and in order, under a
 * flood on both streams; and when the reader is gone (the supervisor killed -9: its end of the
 * pipe closes) the worker keeps writing without an error and without blocking, then stops
 * cleanly. The same worker without the relay meets the broken pipe. Real processes and pipes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startWorker, type Worker } from '../../src/supervise/worker.js';
import { waitFor } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dancer-relay-'));
const started: Worker[] = [];
afterAll(async () => {
  for (const w of started) await w.kill();
  rmSync(dir, { recursive: true, force: true });
});

// FLOOD=n: n numbered lines as fast as it can (every 10th to stderr), synchronous writes as a
// pino destination does them, then exit. Otherwise: ten 200-byte lines every ms until SIGTERM,
// its count in count.txt every 20 ms; an error on stdout (EPIPE) goes to error.txt, exit 3.
writeFileSync(
  path.join(dir, 'writer.cjs'),
  `const fs = require('node:fs');
const n = Number(process.env.FLOOD ?? 0);
if (n > 0) {
  for (let i = 0; i < n; i++) fs.writeSync(i % 10 === 9 ? 2 : 1, JSON.stringify({ level: 30, seq: i, msg: 'line ' + i, pad: 'x'.repeat(i % 200) }) + '\\n');
  process.exit(0);
}
let written = 0;
process.stdout.on('error', (e) => { fs.writeFileSync('error.txt', e.code ?? e.message); process.exit(3); });
setInterval(() => { for (let k = 0; k < 10; k++) process.stdout.write('tick ' + written++ + ' ' + 'x'.repeat(190) + '\\n'); }, 1);
setInterval(() => fs.writeFileSync('count.txt', String(written)), 20);
process.on('SIGTERM', () => process.exit(0));
`,
);

function start(env: Record<string, string>, outliveSupervisor: boolean): Worker {
  const worker = startWorker({
    release: 'test',
    command: 'node writer.cjs',
    cwd: dir,
    env,
    sockets: [],
    outliveSupervisor,
  });
  started.push(worker);
  return worker;
}

function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8'))));
}

/** The seq of each line, checked to be the expected ones in order. */
function seqs(text: string): number[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

const count = () => {
  try {
    return Number(readFileSync(path.join(dir, 'count.txt'), 'utf8')) || 0;
  } catch {
    return 0;
  }
};

describe('the log relay of a worker that outlives its supervisor', () => {
  it('passes a flood on stdout and stderr through complete and in order', async () => {
    const n = 200_000;
    const worker = start({ FLOOD: String(n) }, true);
    const [out, err, exit] = await Promise.all([collect(worker.stdout), collect(worker.stderr), worker.exited]);
    expect(exit.code).toBe(0);
    const all = Array.from({ length: n }, (_, i) => i);
    expect(seqs(out)).toEqual(all.filter((i) => i % 10 !== 9));
    expect(seqs(err)).toEqual(all.filter((i) => i % 10 === 9));
  }, 120_000);

  it('keeps the worker writing, unblocked and without an error, once the reader is gone', async () => {
    rmSync(path.join(dir, 'error.txt'), { force: true });
    rmSync(path.join(dir, 'count.txt'), { force: true });
    const worker = start({}, true);
    const firstLines = await new Promise<string>((resolve) =>
      worker.stdout.once('data', (c: Buffer) => resolve(String(c))),
    );
    expect(firstLines).toMatch(/^tick 0 x+\n/);
    // The supervisor's end of the pipe closes, as when it is killed -9.
    worker.stdout.destroy();
    worker.stderr.destroy();
    const atClose = await waitFor(() => count() || undefined, 10_000, 'the first count');
    // 4 MB written after the close: far more than any pipe or socket buffer holds.
    await waitFor(() => count() > atClose + 20_000, 60_000, 'the worker to write on after the close');
    expect(worker.exit).toBeUndefined();
    const exit = await worker.stop(5000);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(() => readFileSync(path.join(dir, 'error.txt'), 'utf8')).toThrow();
  }, 120_000);

  it('without the relay the same worker meets the broken pipe', async () => {
    rmSync(path.join(dir, 'error.txt'), { force: true });
    const worker = start({}, false);
    await new Promise((resolve) => worker.stdout.once('data', resolve));
    worker.stdout.destroy();
    const exit = await worker.exited;
    expect(exit.code).toBe(3);
    expect(readFileSync(path.join(dir, 'error.txt'), 'utf8')).toBe('EPIPE');
  }, 60_000);
});
