import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPortsFree, bindSockets, type HeldSocket } from '../../src/supervise/sockets.js';
import { startScript, startWorker, type Worker } from '../../src/supervise/worker.js';
import { expectGone, FIXTURES, get, type Harness, harness, makeServiceDir } from './helpers.js';

const held: HeldSocket[] = [];
const workers: Worker[] = [];
let h: Harness | undefined;
afterEach(async () => {
  for (const w of workers.splice(0)) await w.kill();
  for (const s of held.splice(0)) s.close();
  await h?.close();
  h = undefined;
});

describe('held sockets', () => {
  it('are listening without accepting: a connection waits in the backlog until a worker accepts it', async () => {
    const [sock] = bindSockets([{ name: 'http', host: '127.0.0.1', port: 0 }]);
    held.push(sock!);
    // connect succeeds (backlog) but nobody answers yet
    const client = net.connect(sock!.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.write('GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let answer = '';
    client.on('data', (d: Buffer) => {
      answer += d.toString();
    });
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    const worker = startWorker({
      release: 'test',
      command: `${process.execPath} ${path.join(FIXTURES, 'http.mjs')}`,
      cwd: FIXTURES,
      env: {},
      sockets: [sock!],
    });
    workers.push(worker);
    await ended;
    expect(answer).toMatch(new RegExp(`^HTTP/1.1 200[\\s\\S]*\\r\\n\\r\\n${worker.pid} `));
  });

  it('sets LISTEN_PID to the service pid with exec for simple commands', () => {
    expect(startScript('node server.js', true)).toBe('LISTEN_PID=$$; export LISTEN_PID; exec node server.js');
    expect(startScript('npm run build && node x', true)).toBe(
      'LISTEN_PID=$$; export LISTEN_PID; npm run build && node x',
    );
    expect(startScript('FOO=1 node x', false)).toBe('FOO=1 node x');
  });

  it('reports a port in use clearly', async () => {
    const [a] = bindSockets([{ name: 'http', host: '127.0.0.1', port: 0 }]);
    held.push(a!);
    await expect(assertPortsFree([{ name: 'http', host: '127.0.0.1', port: a!.port }])).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('dancer/listen drain', () => {
  it('after SIGTERM, answers keep-alive clients with Connection: close, then exits 0 once drained', async () => {
    const child = spawn(process.execPath, [path.join(FIXTURES, 'http.mjs')], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const port = await new Promise<number>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = () =>
      new Promise<{ connection: string | undefined }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve({ connection: res.headers.connection }));
          })
          .on('error', reject);
      });
    expect((await request()).connection).toBe('keep-alive');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    expect((await request()).connection).toBe('close');
    expect(await exited).toBe(0);
    agent.destroy();
    await expectGone([child.pid!]);
  });
});

describe('port mode (not zero-downtime)', () => {
  it('passes PORT, no fds, and reloads by stopping the old worker first', async () => {
    const probe = net.createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as net.AddressInfo).port)),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    h = harness(
      makeServiceDir({
        start: `node ${path.join(FIXTURES, 'http.mjs')}`,
        mode: 'port',
        listen: [{ name: 'http', port, host: '127.0.0.1' }],
        readiness: { http: { path: '/healthz', port }, timeoutSeconds: 5 },
      }),
    );
    await h.sup.start();
    expect(h.sup.boundSockets).toEqual([]);
    const first = (await get(port, '/pid')).body;
    await h.sup.reload();
    const second = (await get(port, '/pid')).body;
    expect(second).not.toBe(first);
  });
});
