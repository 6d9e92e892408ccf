import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { dancerMixin, getContext, runWithContext, updateContext } from '../../src/capture/context.js';
import { query, ROOT, start, tempDir, waitFor } from './helpers.js';

describe('dancer/context', () => {
  it('follows async work, nests (ids override, tags add, labels merge) and is absent outside', async () => {
    expect(getContext()).toBeUndefined();
    expect(updateContext({ userId: 'x' })).toBe(false);
    await runWithContext({ requestId: 'a', tags: ['t1'], labels: { region: 'eu' } }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      expect(getContext()).toMatchObject({ requestId: 'a' });
      await runWithContext({ spanId: 's', tags: ['t2'], labels: { tier: 'gold' } }, async () => {
        await Promise.resolve();
        expect(getContext()).toEqual({
          requestId: 'a',
          spanId: 's',
          tags: ['t1', 't2'],
          labels: { region: 'eu', tier: 'gold' },
        });
      });
      expect(updateContext({ userId: 'u' })).toBe(true);
      expect(getContext()).toEqual({ requestId: 'a', userId: 'u', tags: ['t1'], labels: { region: 'eu' } });
    });
    expect(getContext()).toBeUndefined();
  });

  it('dancerMixin adds the context to every pino line, and a fresh object each time', () => {
    const lines: Array<Record<string, unknown>> = [];
    const dest = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const mixin = dancerMixin();
    const log = pino({ mixin }, dest);
    runWithContext({ requestId: 'r1', tenantId: 't', traceId: 'tr', tags: ['x'] }, () =>
      log.info({ requestId: 'explicit-wins' }, 'one'),
    );
    runWithContext({ requestId: 'r2' }, () => log.info('two'));
    log.info('three');
    expect(lines.map((l) => [l.msg, l.requestId, l.tenantId, l.tags])).toEqual([
      ['one', 'explicit-wins', 't', ['x']],
      ['two', 'r2', undefined, undefined],
      ['three', undefined, undefined, undefined],
    ]);
    expect(mixin()).not.toBe(mixin());
  });
});

describe('examples/context-http', () => {
  it('puts each request id on every line of that request, across awaits and concurrent requests', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'ctx.db');
    const app = start(process.execPath, [path.join(ROOT, 'examples/context-http/server.mjs')], {
      env: { PORT: '0', DANCER_DB: db },
    });
    try {
      const port = Number(
        await waitFor(() => /listening on (\d+)/.exec(app.stdout())?.[1], 15_000, 'example to listen'),
      );
      const get = (url: string, id: string) =>
        new Promise<number>((resolve, reject) => {
          http
            .get(
              { host: '127.0.0.1', port, path: url, headers: { 'x-request-id': id, 'x-user-id': `user-${id}` } },
              (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              },
            )
            .on('error', reject);
        });
      const statuses = await Promise.all([
        get('/orders/7', 'req-A'),
        get('/orders/13', 'req-B'),
        get('/orders/8', 'req-C'),
      ]);
      expect(statuses).toEqual([200, 500, 200]);
    } finally {
      app.child.kill('SIGTERM');
    }
    const done = await app.done;
    expect(done.code).toBe(0);
    const rows = query<{
      request_id: string | null;
      user_id: string | null;
      message: string;
      level: number;
      err_message: string | null;
      http_status: number | null;
    }>(db, 'SELECT request_id, user_id, message, level, err_message, http_status FROM logs ORDER BY id');
    const byRequest = (id: string) => rows.filter((r) => r.request_id === id).map((r) => r.message);
    expect(byRequest('req-A')).toEqual(['request received', 'loading order', 'request done']);
    expect(byRequest('req-C')).toEqual(['request received', 'loading order', 'request done']);
    expect(byRequest('req-B')).toEqual(['request received', 'loading order', 'request failed']);
    const failed = rows.find((r) => r.message === 'request failed');
    expect(failed).toMatchObject({
      level: 50,
      err_message: 'order 13 is cursed',
      http_status: 500,
      user_id: 'user-req-B',
    });
    // Lines outside any request carry no id.
    expect(rows.find((r) => r.message === 'listening')?.request_id).toBeNull();
  });
});
