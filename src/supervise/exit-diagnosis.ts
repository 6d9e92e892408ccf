/**
 * Why a worker died, read from the last of its stderr: the failures a restart cannot cure and a
 * config change can. Pure: the supervisor (or `dancer run`) feeds it output and asks on a crash.
 */
import { DancerError } from '../errors.js';

/** What {@link diagnoseWorkerExit} looks at. */
export interface WorkerExitFacts {
  /** `service.mode`. */
  mode: 'socket' | 'port';
  /** The last few KiB the worker wrote to stderr (and stdout: some runtimes log errors there). */
  outputTail: string;
  /** The first listen port, for the message. */
  port?: number | undefined;
}

const ADDR_IN_USE = /\bEADDRINUSE\b|[Aa]ddress already in use/;

/**
 * A coded error when the exit is one that restarting cannot fix, else undefined. Today: a worker
 * in socket mode that tried to bind the port Dancer already holds (it listens on PORT instead of
 * taking the inherited socket), which otherwise crash-loops until the restart limit.
 */
export function diagnoseWorkerExit(facts: WorkerExitFacts): DancerError | undefined {
  if (facts.mode !== 'socket' || !ADDR_IN_USE.test(facts.outputTail)) return undefined;
  const port = facts.port === undefined ? 'its port' : `port ${facts.port}`;
  return new DancerError(
    'DANCER_WORKER_PORT_CONFLICT',
    `The worker tried to bind ${port} itself and got EADDRINUSE: in socket mode Dancer holds that port ` +
      'and passes it as fd 3 (LISTEN_FDS). Change one of: set `mode: port` under service: in dancer.yaml ' +
      '(the service binds PORT, restarts have a short gap), or take the socket in the service ' +
      "(Node: `import { listen } from 'dancer/listen'; await listen(server)`; other languages: fd 3, " +
      'see docs/supervisor.md) for zero-downtime deploys. Not restarting.',
    { details: { port: facts.port, mode: facts.mode } },
  );
}

/** Bytes of output kept per worker for {@link diagnoseWorkerExit}. */
export const OUTPUT_TAIL_BYTES = 8192;

/**
 * The last {@link OUTPUT_TAIL_BYTES} of output per worker pid, and the pid that spoke last (a
 * start failure is reported without a pid). Bounded to a few workers.
 */
export class OutputTails {
  private readonly tails = new Map<number, string>();
  private last: number | undefined;

  /** Append output of worker `pid`. */
  add(pid: number, chunk: Buffer | string): void {
    const text = (this.tails.get(pid) ?? '') + chunk.toString();
    this.tails.delete(pid);
    this.tails.set(pid, text.length > OUTPUT_TAIL_BYTES ? text.slice(-OUTPUT_TAIL_BYTES) : text);
    if (this.tails.size > 8) this.tails.delete(this.tails.keys().next().value as number);
    this.last = pid;
  }

  /** The pid that wrote last. */
  get lastPid(): number | undefined {
    return this.last;
  }

  /** The tail of `pid`, or of the last worker that wrote when `pid` is 0 or unknown. */
  tail(pid: number): string {
    return this.tails.get(pid) ?? (this.last === undefined ? '' : (this.tails.get(this.last) ?? ''));
  }
}
