// Redaction throughput: `node bench/redact.mjs [MB] [--baseline path/to/dist/consult/redact.js]`
// after `npm run build`. Redacts realistic log lines (JSON records, stack traces, ~1 in 50 with a
// secret) one record at a time, as the brief and the tools do, and in 1 MB chunks; prints MB/s
// for each, best of 3, by the process's CPU time (wall time too: on a shared machine CPU time is
// the figure to trust). With --baseline, another build's redactor runs on the same data in
// alternating rounds of the same process, and the ratio is printed.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createRedactor } from '../dist/consult/redact.js';

const { values: opts, positionals } = parseArgs({
  options: { baseline: { type: 'string' }, rounds: { type: 'string', default: '3' } },
  allowPositionals: true,
});
const targetMb = Number(positionals[0] ?? 32);
const rounds = Number(opts.rounds);
const secrets = [
  'key=sk-ant-api03-AbCdEfGhIjKlMnOpQrSt',
  'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU',
  'postgres://app:s3cret@db:5432/shop',
  'user jane.doe@example.com',
  'card 4111 1111 1111 1111',
  'AKIAIOSFODNN7EXAMPLE',
];
function line(i) {
  const base = {
    level: 50,
    time: 1764072000000 + i,
    pid: 4242,
    hostname: 'web-1',
    reqId: `req-${i}`,
    msg: `charge failed for order ${100000 + i}: upstream timeout after ${i % 5000} ms`,
    route: '/api/orders/:id/pay',
    status: 502,
    durationMs: 1234.5,
  };
  if (i % 50 === 0) base.note = secrets[(i / 50) % secrets.length];
  let text = JSON.stringify(base);
  if (i % 10 === 0) {
    text +=
      '\nError: upstream timeout\n    at charge (/srv/app/src/payment.js:42:13)\n    at async handle (/srv/app/src/server.js:88:5)';
  }
  return text;
}
const lines = [];
let bytes = 0;
for (let i = 0; bytes < targetMb * 1024 * 1024; i++) {
  const l = line(i);
  lines.push(l);
  bytes += Buffer.byteLength(l) + 1;
}
const chunks = [];
let cur = [];
let curBytes = 0;
for (const l of lines) {
  cur.push(l);
  curBytes += l.length + 1;
  if (curBytes >= 1024 * 1024) {
    chunks.push(cur.join('\n'));
    cur = [];
    curBytes = 0;
  }
}
if (cur.length) chunks.push(cur.join('\n'));

const r = createRedactor();
const base = opts.baseline ? (await import(path.resolve(opts.baseline))).createRedactor() : undefined;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** One pass of a redactor over the items: CPU and wall ms, and the output length. */
function pass(red, items) {
  const c0 = cpuMs();
  const t0 = process.hrtime.bigint();
  let out = 0;
  for (const s of items) out += red.redact(s).length;
  return { cpu: cpuMs() - c0, wall: Number(process.hrtime.bigint() - t0) / 1e6, out };
}
/** Best of `rounds` for this build (and the baseline, alternating with it). */
function measure(items) {
  const best = { ms: Infinity, wall: Infinity, baseMs: Infinity, out: 0, baseOut: 0 };
  for (let round = 0; round < rounds; round++) {
    const a = pass(r, items);
    best.ms = Math.min(best.ms, a.cpu);
    best.wall = Math.min(best.wall, a.wall);
    best.out = a.out;
    if (base) {
      const b = pass(base, items);
      best.baseMs = Math.min(best.baseMs, b.cpu);
      best.baseOut = b.out;
    }
  }
  return best;
}
const mb = bytes / (1024 * 1024);
// Baselines on the same data, same machine, same moment: a character scan and one literal regex.
function baseline(fn) {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const t0 = cpuMs();
    fn();
    best = Math.min(best, cpuMs() - t0);
  }
  return best;
}
const scanMs = baseline(() => {
  let n = 0;
  for (const c of chunks) for (let i = 0; i < c.length; i++) if (c.charCodeAt(i) === 64) n++;
  return n;
});
const regexMs = baseline(() => {
  let n = 0;
  for (const c of chunks) n += c.replace(/sk-ant-[A-Za-z0-9_-]{8,}/g, 'X').length;
  return n;
});
const perRecord = measure(lines);
const perChunk = measure(chunks);
const redactedCount = r.redact(chunks.join('\n')).split('[REDACTED:').length - 1;
console.log(`input: ${mb.toFixed(1)} MB, ${lines.length} records, ${redactedCount} placeholders`);
const rate = (ms) => `${(mb / (ms / 1000)).toFixed(1)} MB/s`;
for (const [name, m] of [
  ['per record', perRecord],
  ['1 MB chunks', perChunk],
]) {
  let text = `${name}: ${rate(m.ms)} of CPU (${m.ms.toFixed(0)} ms; wall ${rate(m.wall)})`;
  if (base) {
    text += `; baseline build ${rate(m.baseMs)}: ${(m.baseMs / m.ms).toFixed(2)}x its speed`;
    if (m.baseOut !== m.out) text += ` (OUTPUT DIFFERS: ${m.out} vs ${m.baseOut} chars)`;
  }
  console.log(text);
}
console.log(
  `baseline, charCodeAt scan: ${rate(scanMs)} (per record ${(scanMs / perRecord.ms).toFixed(2)}x of it); one literal-prefix regex replace: ${rate(regexMs)}`,
);
console.log(
  `load average: ${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
