// dancer/context with node:http: every log line written while handling a request carries that
// request's id, even from code that knows nothing about the request (after awaits, in helpers).
//
//   npm run build && node examples/context-http/server.mjs
//   curl -H 'x-request-id: abc' localhost:3000/orders/7
//   node bin/dancer.js ingest --help   # or: sqlite3 .dancer/dancer.db 'select request_id, message from logs'
//
// Env: PORT (default 3000; 0 picks a free port), DANCER_DB (default .dancer/dancer.db).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { dancerMixin, runWithContext, updateContext } from 'dancer/context';
import pino from 'pino';

const log = pino(
  { name: 'context-http', mixin: dancerMixin() },
  pino.transport({ target: 'dancer/pino', options: { db: process.env.DANCER_DB ?? '.dancer/dancer.db' } }),
);

// A helper with no request in its signature: the context finds the request anyway.
async function loadOrder(id) {
  log.info({ orderId: id }, 'loading order');
  await delay(10);
  if (id === '13') throw new Error(`order ${id} is cursed`);
  return { id, total: 42 };
}

const server = http.createServer((req, res) => {
  const requestId = String(req.headers['x-request-id'] ?? randomUUID());
  runWithContext({ requestId, labels: { route: 'orders' } }, async () => {
    log.info({ req: { method: req.method, url: req.url } }, 'request received');
    updateContext({ userId: String(req.headers['x-user-id'] ?? 'anonymous') });
    try {
      const order = await loadOrder(req.url?.split('/').pop() ?? '');
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
      res.end(JSON.stringify(order));
      log.info({ res: { statusCode: 200 } }, 'request done');
    } catch (err) {
      res.writeHead(500, { 'x-request-id': requestId });
      res.end('failed');
      log.error({ err, res: { statusCode: 500 } }, 'request failed');
    }
  });
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  log.info('listening');
  process.stdout.write(`listening on ${server.address().port}\n`);
});

process.on('SIGTERM', () => {
  server.close(() => process.exit(0)); // exit flushes the pino transport
});
