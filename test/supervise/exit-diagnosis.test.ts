import { describe, expect, it } from 'vitest';
import { diagnoseWorkerExit, OUTPUT_TAIL_BYTES, OutputTails } from '../../src/supervise/exit-diagnosis.js';

const NODE_EADDRINUSE = `node:events:497
      throw er; // Unhandled 'error' event
Error: listen EADDRINUSE: address already in use 127.0.0.1:8080
    at Server.setupListenHandle [as _listen2] (node:net:1908:16)`;

describe('diagnoseWorkerExit', () => {
  it('EADDRINUSE in socket mode (Node, Python, Go wording) is a coded error naming both fixes', () => {
    for (const tail of [
      NODE_EADDRINUSE,
      'OSError: [Errno 98] Address already in use',
      'listen tcp 127.0.0.1:8080: bind: address already in use',
    ]) {
      const error = diagnoseWorkerExit({ mode: 'socket', outputTail: tail, port: 8080 });
      expect(error?.code).toBe('DANCER_WORKER_PORT_CONFLICT');
      expect(error?.message).toMatch(/port 8080/);
      expect(error?.message).toMatch(/mode: port/);
      expect(error?.message).toMatch(/dancer\/listen/);
    }
  });

  it('port mode, or another failure, is left to the restart policy', () => {
    expect(diagnoseWorkerExit({ mode: 'port', outputTail: NODE_EADDRINUSE, port: 8080 })).toBeUndefined();
    expect(diagnoseWorkerExit({ mode: 'socket', outputTail: 'TypeError: x is undefined' })).toBeUndefined();
  });
});

describe('OutputTails', () => {
  it('keeps a bounded tail per pid and falls back to the last writer for an unknown pid', () => {
    const tails = new OutputTails();
    tails.add(10, 'a'.repeat(OUTPUT_TAIL_BYTES));
    tails.add(10, 'END');
    expect(tails.tail(10)).toHaveLength(OUTPUT_TAIL_BYTES);
    expect(tails.tail(10).endsWith('END')).toBe(true);
    tails.add(11, 'eleven');
    expect(tails.tail(0)).toBe('eleven');
    expect(tails.lastPid).toBe(11);
  });
});
