import { statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SocketForwarder } from '../../src/capture/capture-client.js';
import { createCaptureServer } from '../../src/capture/capture-server.js';
import { isDancerError } from '../../src/errors.js';
import type { LogRecord } from '../../src/store/records.js';
import { start, tempDir, waitFor } from './helpers.js';

const line = (level: number, msg: string) => JSON.stringify({ level, time: 1767323045000, pid: 1, msg });

describe('createCaptureServer', () => {
  it('listens on an owner-only socket, parses lines and drop notices, removes the file on close', async () => {
    const dir = tempDir();
    const socketPath = path.join(dir, 'run', 'capture.sock');
    const records: LogRecord[] = [];
    const drops: Array<[string, number]> = [];
    const server = await createCaptureServer({
      socketPath,
      onRecord: (r) => records.push(r),
      onDropped: (reason, n) => drops.push([reason, n]),
    });
    try {
      expect(statSync(socketPath).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o700);
      const client = net.connect(socketPath);
      await new Promise((r) => client.once('connect', r));
      client.write(`${line(30, 'one')}\n{"dancer":"dropped","reason":"overload","count":3}\n`);
      client.write(`${line(50, 'two')}\nplain text ERROR too\n${line(40, 'partial at the end')}`);
      client.end();
      await waitFor(() => (records.length === 4 ? true : undefined), 5000, '4 records');
      expect(records.map((r) => [r.level, r.message, r.stream])).toEqual([
        [30, 'one', 'pino'],
        [50, 'two', 'pino'],
        [50, 'plain text ERROR too', 'pino'],
        [40, 'partial at the end', 'pino'],
      ]);
      expect(drops).toEqual([['overload', 3]]);
      expect(server.records).toBe(4);
    } finally {
      await server.close();
    }
    expect(() => statSync(socketPath)).toThrow();
  });

  it('replaces a stale socket file left by a killed process, but refuses a live one or a non-socket', async () => {
    const dir = tempDir();
    const socketPath = path.join(dir, 'c.sock');
    const holder = start(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`,
    ]);
    await waitFor(() => (holder.stdout().includes('up') ? true : undefined), 10_000, 'holder up');
    await expect(createCaptureServer({ socketPath, onRecord: () => {} })).rejects.toSatisfy((e) =>
      isDancerError(e, 'DANCER_SUPERVISOR_RUNNING'),
    );
    holder.child.kill('SIGKILL');
    await holder.done;
    expect(statSync(socketPath).isSocket()).toBe(true);
    const server = await createCaptureServer({ socketPath, onRecord: () => {} });
    await server.close();

    const notSocket = path.join(dir, 'file');
    writeFileSync(notSocket, 'x');
    await expect(createCaptureServer({ socketPath: notSocket, onRecord: () => {} })).rejects.toSatisfy((e) =>
      isDancerError(e, 'DANCER_CAPTURE_INPUT_FAILED'),
    );
  });
});

describe('SocketForwarder', () => {
  it('holds a bounded backlog while the supervisor is away, drops the least important, reconnects and reports drops', async () => {
    const dir = tempDir();
    const socketPath = path.join(dir, 'late.sock');
    const reports: string[] = [];
    const forwarder = new SocketForwarder({
      socketPath,
      queueMaxRecords: 10,
      reconnectMs: 10,
      maxReconnectMs: 20,
      onReport: (m) => reports.push(m),
    });
    for (let i = 0; i < 20; i++) forwarder.push(line(30, `info ${i}`));
    for (let i = 0; i < 5; i++) forwarder.push(line(50, `error ${i}`));
    expect(forwarder.backlog).toBe(10);
    expect(forwarder.dropped).toBe(15);
    await waitFor(() => (reports.length > 0 ? true : undefined), 5000, 'a report');
    const records: LogRecord[] = [];
    const drops: Array<[string, number]> = [];
    const server = await createCaptureServer({
      socketPath,
      onRecord: (r) => records.push(r),
      onDropped: (reason, n) => drops.push([reason, n]),
    });
    try {
      await waitFor(() => (records.length === 10 ? true : undefined), 5000, '10 records');
      expect(records.filter((r) => r.level === 50)).toHaveLength(5);
      expect(records.map((r) => r.message).slice(0, 5)).toEqual(['info 5', 'info 6', 'info 7', 'info 8', 'info 9']);
      await waitFor(() => (drops.length > 0 ? true : undefined), 5000, 'drop notice');
      expect(drops).toEqual([['overload', 15]]);
      expect(reports.filter((r) => r.startsWith('cannot reach'))).toHaveLength(1);
      forwarder.push(line(30, 'after'));
      await forwarder.close();
      await waitFor(() => (records.length === 11 ? true : undefined), 5000, 'last record');
    } finally {
      await server.close();
    }
  });
});
