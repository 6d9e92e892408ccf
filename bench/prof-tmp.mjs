import { builtinRules } from '../dist/consult/redact.js';
const parts = [];
for (let i = 0; i < 40000; i++) parts.push(JSON.stringify({ level: 50, time: 1764072000000 + i, pid: 4242, hostname: 'web-1', reqId: `req-${i}`, msg: `charge failed for order ${100000 + i}: upstream timeout after ${i % 5000} ms`, route: '/api/orders/:id/pay', status: 502, note: i % 50 === 0 ? 'password=abc user a@b.com' : undefined }));
const text = parts.join('\n');
console.log('MB', (text.length / 1e6).toFixed(1));
for (const rule of builtinRules({})) {
  const t0 = performance.now();
  rule.regex.lastIndex = 0;
  const n = rule.apply ? rule.apply(text).length : (text.match(rule.regex) || []).length;
  console.log(rule.name.padEnd(16), (performance.now() - t0).toFixed(1), 'ms', n);
}
