import net from 'node:net';
import { detachString } from './detach.js';
import { CaptureQueue } from './queue.js';
import { quickLevel } from './quick-level.js';

/** Options for {@link SocketForwarder}. */
export interface SocketForwarderOptions {
  /** The supervisor's capture socket (`DANCER_CAPTURE_SOCKET`). */
  socketPath: string;
  /** Lines held while the supervisor is slow or away. Default 50 000. */
  queueMaxRecords?: number | undefined;
  /** Bytes held while the supervisor is slow or away. Default 32 MiB. */
  queueMaxBytes?: number | undefined;
  /** First reconnect delay; doubles up to `maxReconnectMs`. Default 100 ms. */
  reconnectMs?: number | undefined;
  /** Longest reconnect delay. Default 2000 ms. */
  maxReconnectMs?: number | undefined;
  /** Told once per condition (cannot connect, lost connection). Default: stderr. */
  onReport?: ((message: string) => void) | undefined;
}

/**
 * Sends raw JSON log lines to the supervisor's capture socket. Never blocks its caller: lines
 * wait in a bounded queue (least important dropped first, counted) while the socket is busy or
 * disconnected; it reconnects with backoff and, once connected, tells the supervisor what it
 * dropped with a `{"dancer":"dropped",...}` line.
 */
export class SocketForwarder {
  private readonly options: SocketForwarderOptions;
  private readonly queue: CaptureQueue<string>;
  private socket: net.Socket | null = null;
  private connected = false;
  private writable = false;
  private scheduled = false;
  private closing = false;
  private delay: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reportedDown = false;
  private sentDrops = 0;
  private readonly report: (message: string) => void;
  /** Lines written to the socket. */
  sent = 0;
  private resolveReady!: () => void;
  /**
   * Resolves once the first connection is made (and the supervisor was told this transport
   * exists, so it can drop the same records from captured stdout), or after `timeoutMs`.
   */
  ready(timeoutMs = 1000): Promise<void> {
    return Promise.race([this.readyPromise, new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
  }
  private readonly readyPromise = new Promise<void>((resolve) => {
    this.resolveReady = resolve;
  });

  constructor(options: SocketForwarderOptions) {
    this.options = options;
    this.queue = new CaptureQueue<string>(
      { maxRecords: options.queueMaxRecords, maxBytes: options.queueMaxBytes ?? 32 * 1024 * 1024 },
      quickLevel,
      (line) => line.length * 2 + 32,
    );
    this.delay = options.reconnectMs ?? 100;
    this.report = options.onReport ?? ((m) => process.stderr.write(`dancer/pino: ${m}\n`));
    this.connect();
  }

  /** Lines dropped so far (overload or supervisor away). */
  get dropped(): number {
    return this.queue.droppedTotal;
  }

  /** Lines waiting. */
  get backlog(): number {
    return this.queue.size;
  }

  /** Queue one line (without its newline). Never blocks. */
  push(line: string): void {
    const level = quickLevel(line);
    if (!this.queue.wouldAccept(level)) {
      this.queue.countDropped(level);
      return;
    }
    this.queue.push(detachString(line));
    this.schedule();
  }

  /**
   * Send what is queued (waiting at most `timeoutMs` for the supervisor), then disconnect.
   * Lines still queued after that are counted as dropped and reported.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const deadline = Date.now() + timeoutMs;
    // Wait for a connection in progress, then for the queue to empty, up to the deadline.
    while (this.queue.size > 0 && Date.now() < deadline) {
      if (this.connected) this.pump();
      else if (this.socket === null) this.connect();
      if (this.queue.size > 0) await new Promise((r) => setTimeout(r, 5));
    }
    const left = this.queue.size;
    if (left > 0) this.report(`supervisor unreachable at exit: ${left} record(s) lost`);
    const socket = this.socket;
    if (socket && this.connected) {
      this.sendDropNotice(socket);
      await new Promise<void>((resolve) => {
        socket.end(() => resolve());
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
    }
    socket?.destroy();
  }

  private connect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const socket = net.connect(this.options.socketPath);
    this.socket = socket;
    socket.on('connect', () => {
      this.connected = true;
      this.writable = true;
      this.delay = this.options.reconnectMs ?? 100;
      if (this.reportedDown) this.report(`reconnected to ${this.options.socketPath}`);
      this.reportedDown = false;
      socket.write(`${JSON.stringify({ dancer: 'hello', pid: process.pid })}\n`);
      this.resolveReady();
      this.sendDropNotice(socket);
      this.schedule();
    });
    socket.on('drain', () => {
      this.writable = true;
      this.schedule();
    });
    socket.on('error', (error) => {
      if (!this.reportedDown && !this.closing) {
        this.reportedDown = true;
        this.report(
          `cannot reach the supervisor at ${this.options.socketPath} (${error.message}); holding up to ${this.queue.maxRecords} records, counting drops, reconnecting`,
        );
      }
    });
    socket.on('close', () => {
      this.connected = false;
      this.writable = false;
      if (this.socket === socket) this.socket = null;
      if (this.closing) return;
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => this.connect(), this.delay);
      this.reconnectTimer.unref();
      this.delay = Math.min(this.delay * 2, this.options.maxReconnectMs ?? 2000);
    });
  }

  private sendDropNotice(socket: net.Socket): void {
    const dropped = this.queue.droppedTotal;
    if (dropped > this.sentDrops) {
      socket.write(`${JSON.stringify({ dancer: 'dropped', reason: 'overload', count: dropped - this.sentDrops })}\n`);
      this.sentDrops = dropped;
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const socket = this.socket;
    while (socket && this.connected && this.writable && this.queue.size > 0) {
      const lines = this.queue.drain(1000);
      this.sent += lines.length;
      this.writable = socket.write(`${lines.join('\n')}\n`);
    }
    if (socket && this.connected && this.writable) this.sendDropNotice(socket);
  }
}
