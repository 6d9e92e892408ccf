import http from 'node:http';
import { listen } from 'dancer/listen';
import pino from 'pino';
import { healthy } from './lib/health.mjs';
import { price } from './lib/pricing.mjs';

const log = pino();
const release = process.env.DANCER_RELEASE ?? '';
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://shop');
  if (url.pathname === '/healthz') {
    res.writeHead(healthy() ? 200 : 503).end();
    return;
  }
  try {
    const cents = price(url.searchParams.get('sku'));
    log.info({ cents }, 'price served');
    res.end(`${process.pid} ${release} ${cents}\n`);
  } catch (err) {
    log.error({ err }, 'price failed');
    res.writeHead(500).end(`${process.pid} ${release} error\n`);
  }
});
await listen(server);
