import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { listen } from 'dancer/listen';
import pino from 'pino';
import { InvalidOrderError, type LineItem, orderTotal } from './pricing.js';

const log = pino({ name: 'checkout' });

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

const server = http.createServer(async (req, res) => {
  const reqId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
  const started = performance.now();
  const reqLog = log.child({ reqId });
  try {
    if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { ok: true });
    if (req.method === 'POST' && req.url === '/checkout') {
      const body = (await readJson(req)) as { items?: LineItem[]; coupon?: string; currency?: string };
      if (body.currency !== undefined && body.currency !== 'USD') {
        throw new Error(`unsupported currency ${body.currency}`);
      }
      const total = orderTotal(body.items ?? [], body.coupon);
      send(res, 200, { totalCents: total });
      reqLog.info(
        {
          req: { method: req.method, url: req.url },
          res: { statusCode: 200 },
          responseTime: performance.now() - started,
        },
        'checkout ok',
      );
      return;
    }
    send(res, 404, { error: 'not found' });
  } catch (err) {
    if (err instanceof InvalidOrderError || err instanceof SyntaxError) {
      reqLog.warn({ err: { type: err.name, message: err.message } }, 'rejected order');
      return send(res, 400, { error: err.message });
    }
    reqLog.error({ err, req: { method: req.method, url: req.url }, res: { statusCode: 500 } }, 'checkout failed');
    send(res, 500, { error: 'internal error' });
  }
});

listen(server, { port: Number(process.env.PORT ?? 8080) }).then(
  (where) => log.info({ where }, 'checkout listening'),
  (err) => {
    log.fatal({ err }, 'cannot listen');
    process.exit(1);
  },
);
