// Redaction throughput: `node bench/redact.mjs [MB]` after `npm run build`.
// Redacts realistic log lines (JSON records, stack traces, ~1 in 50 with a secret) one record at a
// time, as the brief and the tools do, and in 1 MB chunks; prints MB/s for each, best of 3.
import { createRedactor } from '../dist/consult/redact.js';

const targetMb = Number(process.argv[2] ?? 32);
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
function measure(items) {
  let best = Infinity;
  let out = 0;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (const s of items) out += r.redact(s).length;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    best = Math.min(best, ms);
  }
  return { ms: best, out };
}
const mb = bytes / (1024 * 1024);
// Baselines on the same data, same machine, same moment: a character scan and one literal regex.
function baseline(fn) {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
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
console.log(`per record: ${(mb / (perRecord.ms / 1000)).toFixed(1)} MB/s (${perRecord.ms.toFixed(0)} ms)`);
console.log(`1 MB chunks: ${(mb / (perChunk.ms / 1000)).toFixed(1)} MB/s (${perChunk.ms.toFixed(0)} ms)`);
console.log(
  `baseline, charCodeAt scan: ${(mb / (scanMs / 1000)).toFixed(1)} MB/s; one literal-prefix regex replace: ${(mb / (regexMs / 1000)).toFixed(1)} MB/s`,
);
console.log(
  `load average: ${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
