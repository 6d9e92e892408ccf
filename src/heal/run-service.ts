import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import {
  CAPTURE_SOCKET_ENV,
  type CaptureServer,
  createCaptureServer,
  createLineCapture,
  type LineCapture,
  TransportDedupe,
} from '../capture/index.js';
import { type LoadedConfig, withheldFromService } from '../config/index.js';
import { type DancerError, errorMessage } from '../errors.js';
import { addCodeRoots, Detector, minerOptionsFromConfig, minerPlugin, TemplateStore } from '../patterns/index.js';
import type { LogRecord } from '../store/index.js';
import {
  type BatchPlugin,
  type Db,
  LogWriter,
  openStore,
  retentionPolicyFromConfig,
  scheduleRetention,
} from '../store/index.js';
import {
  type Alert,
  type CrashEvent,
  diagnoseWorkerExit,
  OutputTails,
  Supervisor,
  serviceOf,
  supervisorPaths,
} from '../supervise/index.js';

/** A crash with the records the worker logged last (newest last), for the crash trigger. */
export interface CrashReport extends CrashEvent {
  lastRecords: LogRecord[];
}

/** Options of {@link runService}. */
export interface RunServiceOptions {
  loaded: LoadedConfig;
  /** Extra batch plugins for the log writer (after the miner and the detector). */
  plugins?: BatchPlugin[];
  /** Run the template miner and the detector on captured records (default true). */
  patterns?: boolean;
  /** A crash, with the last records (the patterns stage's crash trigger). */
  onCrash?: (report: CrashReport) => void;
  onAlert?: (alert: Alert) => void;
  /** Progress lines (default: stderr). */
  log?: (message: string) => void;
  /** Install SIGTERM/SIGINT handlers (default true). */
  signals?: boolean;
  /** Records kept per worker for crash reports. Default 50. */
  lastRecords?: number;
  /** Called first when the run stops, before the workers drain and the store closes (the healing loop stops here). */
  beforeStop?: () => Promise<void> | void;
}

/** A running `dancer run`. */
export interface RunningService {
  supervisor: Supervisor;
  db: Db;
  writer: LogWriter;
  /** The detector (emits `trigger` events for the consult stage), when patterns are on. */
  detector: Detector | undefined;
  /** Resolves when the supervisor has stopped (after a signal or `stop()`); the exit code to use. */
  done: Promise<number>;
  stop(): Promise<void>;
  /** Why the run stopped on its own (e.g. `DANCER_WORKER_PORT_CONFLICT`), once `done` resolved. */
  failure(): DancerError | undefined;
}

/**
 * `dancer run` as a function: open the store, capture every worker's stdout/stderr (and pino
 * transports through the capture socket) into it, tee the output as configured, start the
 * supervisor, and stop gracefully on SIGTERM/SIGINT (a second signal forces).
 */
export async function runService(options: RunServiceOptions): Promise<RunningService> {
  const { loaded } = options;
  const service = serviceOf(loaded);
  const paths = supervisorPaths(loaded);
  const log = options.log ?? ((m: string) => process.stderr.write(`dancer: ${m}\n`));
  const db = openStore(paths.db);
  // Stack frames from the checkout, any release folder or fix worktree fingerprint alike.
  addCodeRoots({ roots: [paths.repo ?? paths.cwd, paths.cwd], containers: [paths.releasesDir] });
  let detector: Detector | undefined;
  const plugins: BatchPlugin[] = [];
  if (options.patterns !== false) {
    const templates = new TemplateStore(db);
    plugins.push(minerPlugin(templates, templates.loadMiner(minerOptionsFromConfig(loaded.config))));
    detector = new Detector({
      db,
      config: loaded.config.patterns.triggers,
      onError: (e) => log(`detector: ${e.code}: ${e.message}`),
    });
    plugins.push(detector.plugin());
    detector.on('trigger', (t) => log(`trigger: ${t.reason}`));
  }
  plugins.push(...(options.plugins ?? []));
  const writer = new LogWriter(db, {
    maxBatchRecords: loaded.config.store.batch.maxRecords,
    maxBatchDelayMs: loaded.config.store.batch.maxDelayMs,
    redact: loaded.config.store.redactAtIngest ? loaded.config.consult.redact : false,
    plugins,
    onError: (e) => log(`store: ${e.code}: ${e.message}`),
  });
  const retention = loaded.config.store.retention;
  const pruning = scheduleRetention(db, retentionPolicyFromConfig(retention), {
    intervalMs: retention.intervalSeconds * 1000,
    onError: (e) => log(`retention: ${errorMessage(e)}`),
    onRound: (deleted) => log(`retention: deleted ${deleted} log rows (store.retention)`),
  });
  const keep = options.lastRecords ?? 50;
  const recent = new Map<number, LogRecord[]>();
  const remember = (pid: number | undefined, record: LogRecord) => {
    if (pid === undefined) return;
    let list = recent.get(pid);
    if (!list) {
      list = [];
      recent.set(pid, list);
      if (recent.size > 16) recent.delete(recent.keys().next().value as number);
    }
    list.push(record);
    if (list.length > keep) list.shift();
  };
  // One log call, one record: output lines that repeat a dancer/pino transport's records are dropped.
  const dedupe = new TransportDedupe();
  const dedupeTimer = setInterval(() => dedupe.tick(), 50);
  dedupeTimer.unref();
  const sink = (pid: number | undefined) => (record: LogRecord) => {
    writer.write(record);
    remember(record.pid ?? pid, record);
    if (record.pid !== undefined && pid !== undefined && record.pid !== pid) remember(pid, record);
  };

  const tee = loaded.config.capture.tee;
  let teeFile: WriteStream | undefined;
  if (tee === 'file') {
    const file = loaded.resolve(loaded.config.capture.teeFile ?? path.join(paths.stateDir, 'service.log'));
    teeFile = createWriteStream(file, { flags: 'a' });
  }
  const captures = new Map<string, LineCapture>();
  // A crash that restarting cannot cure (see exit-diagnosis.ts) stops the run with a coded error.
  const tails = new OutputTails();
  const crashed = new Set<number>();
  let failure: DancerError | undefined;
  const diagnose = (pid: number) => {
    const error = failure
      ? undefined
      : diagnoseWorkerExit({ mode: service.mode, outputTail: tails.tail(pid), port: service.listen[0]?.port });
    if (!error) return;
    failure = error;
    log(`${error.code}: ${error.message}`);
    void stop();
  };
  let capture: CaptureServer | undefined;
  try {
    capture = await createCaptureServer({
      socketPath: path.join(paths.stateDir, 'capture.sock'),
      onRecord: (record) => {
        dedupe.transport(record);
        writer.write(record);
        remember(record.pid, record);
      },
      onHello: () => dedupe.hello(),
      onDropped: (reason, count) => writer.countDropped(reason, count),
      maxRecordBytes: loaded.config.capture.maxRecordBytes,
    });
  } catch (error) {
    log(`capture socket not available (${errorMessage(error)}); stdout/stderr are still captured`);
  }

  const supervisor = new Supervisor({
    service,
    paths,
    db,
    workerEnv: capture ? { [CAPTURE_SOCKET_ENV]: capture.socketPath } : {},
    withholdEnv: withheldFromService(loaded.config),
    hooks: {
      onLog: log,
      onOutput(worker, stream, chunk) {
        if (tee === 'terminal') (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
        else if (teeFile) teeFile.write(chunk);
        const key = `${worker.pid}:${stream}`;
        let lc = captures.get(key);
        if (!lc) {
          const store = sink(worker.pid);
          lc = createLineCapture({
            sink: (record) => dedupe.output(record, store),
            stream,
            pid: worker.pid,
            maxRecordBytes: loaded.config.capture.maxRecordBytes,
          });
          captures.set(key, lc);
          const created = lc;
          (stream === 'stdout' ? worker.stdout : worker.stderr).once('end', () => {
            created.end();
            captures.delete(key);
          });
        }
        lc.write(chunk);
        tails.add(worker.pid, chunk);
        if (crashed.has(worker.pid)) diagnose(worker.pid);
      },
      onCrash(event) {
        crashed.add(event.pid || (tails.lastPid ?? 0));
        diagnose(event.pid);
        for (const stream of ['stdout', 'stderr']) captures.get(`${event.pid}:${stream}`)?.flush();
        dedupe.flush();
        writer.flush();
        const lastRecords = recent.get(event.pid) ?? [];
        recent.delete(event.pid);
        try {
          detector?.crashTrigger({ exitCode: event.code, signal: event.signal, lastRecords });
        } catch (error) {
          log(`crash trigger failed: ${errorMessage(error)}`);
        }
        options.onCrash?.({ ...event, lastRecords });
      },
      onAlert(alert) {
        log(`ALERT ${alert.kind}: ${alert.message}`);
        options.onAlert?.(alert);
      },
      flush() {
        for (const lc of captures.values()) lc.end();
        captures.clear();
        dedupe.flush();
        writer.flush();
      },
    },
  });

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  let stopping: Promise<void> | undefined;
  const finish = async () => {
    pruning.stop();
    detector?.stop();
    await capture?.close();
    clearInterval(dedupeTimer);
    dedupe.flush();
    writer.close();
    teeFile?.end();
    db.close();
  };
  const beforeStop = async () => {
    try {
      await options.beforeStop?.();
    } catch (error) {
      log(`stopping: ${errorMessage(error)}`);
    }
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      try {
        await beforeStop();
        await supervisor.shutdown();
      } finally {
        await finish();
        resolveDone(failure ? 1 : 0);
      }
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: forcing`);
      supervisor.forceStop();
      resolveDone(1);
      return;
    }
    log(`${signal}: stopping gracefully (send again to force)`);
    void stop();
  };
  if (options.signals !== false) {
    // SIGHUP too: a closed terminal or tmux session stops the supervisor gracefully.
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);
    void done.then(() => {
      for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.off(signal, onSignal);
    });
  }
  detector?.start();
  try {
    await supervisor.start();
  } catch (error) {
    await supervisor.shutdown().catch(() => undefined);
    await finish();
    throw error;
  }
  // A control-socket "shutdown" request also ends the run.
  const poll = setInterval(() => {
    if (supervisor.status().state === 'stopped' && !stopping) void stop();
  }, 200);
  poll.unref();
  void done.then(() => clearInterval(poll));
  return { supervisor, db, writer, detector, done, stop, failure: () => failure };
}
