// The real ingest worker (dist/cli/ingest-worker.js), plus: when its thread exits, write the CPU
// seconds it used (/proc/thread-self/stat, user + system) to $DANCER_BENCH_WORKER_CPU_FILE.
// Used by bench/ingest-threads.mjs only.
import { readFileSync, writeFileSync } from 'node:fs';

process.on('exit', () => {
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  writeFileSync(process.env.DANCER_BENCH_WORKER_CPU_FILE, String((Number(fields[11]) + Number(fields[12])) / 100));
});
await import('../dist/cli/ingest-worker.js');
