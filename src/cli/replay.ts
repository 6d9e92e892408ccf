/**
 * `dancer replay FILE`: replay a recorded log through capture parsing, mining and the triggers on
 * a virtual clock, and print the decisions the detector would have taken. Nothing touches the
 * real store: the replay runs against an in-memory database with the same writer, miner and
 * detector as the live path.
 */
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { Assembler, parseLine } from '../capture/index.js';
import type { DancerConfig } from '../config/index.js';
import { DancerError } from '../errors.js';
import type { Detector, StoredDecision, TemplateMiner } from '../patterns/index.js';
import { createPatternsPipeline, explainDecision, MINUTE_MS, templatesById } from '../patterns/index.js';
import type { LogRecord } from '../store/index.js';
import { LogWriter, openStore } from '../store/index.js';
import { configFor, type GlobalOptions, withConfigOption } from './common.js';
import { makeColors, printNdjson, progress } from './output.js';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** A leading-timestamp reader: the time (ms) and the rest of the line, or undefined. */
export type TimeReader = (line: string) => { ts: number; rest: string } | undefined;

/**
 * Compile a `--time-format`: `iso` (ISO 8601 / RFC 3339, `T` or space, optional fraction and
 * zone), `epoch` (seconds, fraction allowed), `epoch-ms`, or a strftime-style pattern with
 * `%Y %m %d %e %H %M %S %f` (fraction), `%L` (milliseconds), `%b` (month name), `%z` (`Z`,
 * `+hh:mm`, `+hhmm`), `%s` (epoch seconds) and `%%`. The time must start the line (an opening
 * `[` is allowed); times without a zone are UTC.
 *
 * @throws {DancerError} `DANCER_USAGE` for an unknown directive.
 */
export function compileTimeFormat(format: string): TimeReader {
  if (format === 'iso') return compileTimeFormat('%Y-%m-%dT%H:%M:%S%f%z');
  if (format === 'epoch') return compileTimeFormat('%s');
  if (format === 'epoch-ms') {
    return (line) => {
      const m = /^\[?(\d{12,14})\]?\s?/.exec(line);
      return m ? { ts: Number(m[1]), rest: line.slice(m[0].length) } : undefined;
    };
  }
  const fields: string[] = [];
  let re = '^\\[?';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i] as string;
    if (ch !== '%') {
      re += ch === ' ' ? '\\s+' : ch === 'T' ? '[T ]' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    const d = format[++i];
    const group: Record<string, string> = {
      Y: '(\\d{4})',
      m: '(\\d{1,2})',
      d: '(\\d{1,2})',
      e: '\\s?(\\d{1,2})',
      H: '(\\d{1,2})',
      M: '(\\d{2})',
      S: '(\\d{2})',
      f: '(?:[.,](\\d{1,9}))?',
      L: '(\\d{3})',
      b: '([A-Za-z]{3})',
      z: '\\s?(Z|[+-]\\d{2}:?\\d{2})?',
      s: '(\\d{9,11}(?:\\.\\d+)?)',
    };
    if (d === '%') {
      re += '%';
      continue;
    }
    if (d === undefined || group[d] === undefined) {
      throw new DancerError('DANCER_USAGE', `Unknown directive %${d ?? ''} in --time-format "${format}".`, {
        details: { format },
      });
    }
    re += group[d];
    fields.push(d === 'e' ? 'd' : d);
  }
  if (fields.length === 0) {
    throw new DancerError(
      'DANCER_USAGE',
      `--time-format "${format}" has no time directive: use iso, epoch, epoch-ms or a pattern such as "%Y-%m-%d %H:%M:%S".`,
      { details: { format } },
    );
  }
  const regex = new RegExp(`${re}\\]?(?:\\s+|$)`);
  return (line) => {
    const m = regex.exec(line);
    if (!m) return undefined;
    const v: Record<string, string | undefined> = {};
    fields.forEach((f, k) => {
      v[f] = m[k + 1];
    });
    let ts: number;
    if (v.s !== undefined) {
      ts = Math.round(Number(v.s) * 1000);
    } else {
      const month = v.b !== undefined ? MONTHS.indexOf(v.b.toLowerCase()) : Number(v.m ?? 1) - 1;
      if (month < 0) return undefined;
      const ms = v.L !== undefined ? Number(v.L) : v.f !== undefined ? Math.round(Number(`0.${v.f}`) * 1000) : 0;
      ts = Date.UTC(
        Number(v.Y ?? 1970),
        month,
        Number(v.d ?? 1),
        Number(v.H ?? 0),
        Number(v.M ?? 0),
        Number(v.S ?? 0),
        ms,
      );
      const z = v.z;
      if (z !== undefined && z !== 'Z') {
        const sign = z.startsWith('-') ? -1 : 1;
        const digits = z.slice(1).replace(':', '');
        ts -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000;
      }
    }
    if (!Number.isFinite(ts)) return undefined;
    return { ts, rest: line.slice(m[0].length) };
  };
}

/** Options of {@link runReplay}. */
export interface ReplayOptions {
  file: string;
  config: DancerConfig;
  /** Pace the replay at this many times the recorded speed; undefined or 0: as fast as possible. */
  speed?: number | undefined;
  /** Leading timestamp format of plain lines (see {@link compileTimeFormat}). */
  timeFormat?: string | undefined;
  /** Virtual minutes a fired consultation holds its slot. Default 10. */
  consultMinutes?: number | undefined;
  /** Called with every decision as it is taken. */
  onDecision?: (d: StoredDecision, template: string | undefined) => void;
}

/** What {@link runReplay} returns. */
export interface ReplaySummary {
  lines: number;
  records: number;
  templates: number;
  fired: number;
  suppressed: number;
  from: number | null;
  to: number | null;
}

/**
 * Replay `file` on a virtual clock (the records' own times): capture parsing (JSON or text, with
 * multi-line grouping), the miner, the buckets and the detector, in an in-memory store. Every
 * decision goes to `onDecision`. Fired consultations hold their slot for `consultMinutes`.
 *
 * @throws {DancerError} `DANCER_CAPTURE_INPUT_FAILED` when the file cannot be read.
 */
export async function runReplay(options: ReplayOptions): Promise<ReplaySummary> {
  if (!existsSync(options.file)) {
    throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot read ${options.file}: no such file.`, {
      details: { file: options.file },
    });
  }
  const reader = options.timeFormat ? compileTimeFormat(options.timeFormat) : undefined;
  const consultMs = (options.consultMinutes ?? 10) * MINUTE_MS;
  const failures: DancerError[] = [];
  // A scratch store on disk (not in memory): a long history must not exhaust RAM.
  const scratch = mkdtempSync(path.join(tmpdir(), 'dancer-replay-'));
  const db = openStore(path.join(scratch, 'replay.db'));
  let miner: TemplateMiner | undefined;
  let now = 0;
  let detector: Detector | undefined;
  let writer: LogWriter | undefined;
  const running: Array<{ id: string; until: number }> = [];
  const summary: ReplaySummary = { lines: 0, records: 0, templates: 0, fired: 0, suppressed: 0, from: null, to: null };
  const assembler = new Assembler({ maxRecordBytes: options.config.capture.maxRecordBytes });
  let batchStart: number | undefined;
  const batchMs = options.config.store.batch.maxDelayMs;
  let lastMinute: number | undefined;
  const started = Date.now();
  let timed = 0;

  const start = (ts: number) => {
    now = ts;
    const pipeline = createPatternsPipeline(db, options.config, { now: () => now, onError: (e) => failures.push(e) });
    miner = pipeline.miner;
    detector = pipeline.detector;
    detector.on('decision', (d) => {
      if (d.outcome === 'fire') summary.fired++;
      else summary.suppressed++;
      const text = d.templateId === undefined ? undefined : templatesById(db, [d.templateId]).get(d.templateId)?.text;
      options.onDecision?.(d, text);
    });
    detector.on('trigger', (t) => running.push({ id: t.id, until: t.at + consultMs }));
    writer = new LogWriter(db, {
      plugins: pipeline.plugins,
      maxBatchRecords: Number.MAX_SAFE_INTEGER,
      maxBatchDelayMs: 2 ** 31 - 1,
      redact: options.config.store.redactAtIngest ? options.config.consult.redact : false,
      onError: (e) => failures.push(e),
    });
  };

  /** Move the virtual clock to `ts`: end consultations, flush per second, tick per minute. */
  const advance = (ts: number) => {
    if (ts <= now) return;
    // Commit a batch every store.batch.maxDelayMs of virtual time, as the live writer does.
    if (batchStart !== undefined && ts - batchStart >= batchMs) {
      writer?.flush();
      batchStart = undefined;
    }
    batchStart ??= ts;
    now = ts;
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i];
      if (r !== undefined && r.until <= now) {
        running.splice(i, 1);
        detector?.complete(r.id);
      }
    }
    const minute = Math.floor(ts / MINUTE_MS);
    if (lastMinute !== minute) {
      lastMinute = minute;
      detector?.tick(now);
    }
  };

  const emit = async (records: LogRecord[]) => {
    for (const record of records) {
      if (detector === undefined) start(record.ts);
      if (options.speed && options.speed > 0 && summary.from !== null) {
        const due = started + (record.ts - summary.from) / options.speed;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 60_000)));
      }
      advance(record.ts);
      summary.records++;
      summary.from ??= record.ts;
      summary.to = Math.max(summary.to ?? record.ts, record.ts);
      writer?.write(record);
    }
  };

  try {
    const input = createReadStream(options.file, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    try {
      for await (const raw of lines) {
        summary.lines++;
        let text = raw;
        // A line without a time of its own takes the time of the line before; before any, the wall clock.
        let ts = now === 0 ? started : now;
        const head = reader?.(raw);
        if (head !== undefined) {
          ts = head.ts;
          text = head.rest;
          timed++;
        }
        const parsed = parseLine(text, {
          now: ts,
          stream: 'ingest',
          maxRecordBytes: options.config.capture.maxRecordBytes,
        });
        if (parsed === null) continue;
        await emit(assembler.push(parsed, parsed.record.ts));
      }
    } catch (error) {
      if (error instanceof DancerError) throw error;
      throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot read ${options.file}: ${(error as Error).message}`, {
        cause: error,
        details: { file: options.file },
      });
    }
    await emit(assembler.end());
    if (reader !== undefined && timed === 0 && summary.lines > 0) {
      throw new DancerError(
        'DANCER_USAGE',
        `--time-format "${options.timeFormat}" matched no line of ${options.file}: check the format against the first line.`,
        { details: { format: options.timeFormat, file: options.file } },
      );
    }
    writer?.flush();
    if (detector !== undefined) {
      // Let the last window play out: one more tick at the end of the last minute.
      now = Math.max(now, (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS - 1);
      detector.tick(now);
    }
    writer?.close();
    summary.templates = miner?.size ?? 0;
  } finally {
    db.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  if (failures[0] !== undefined) throw failures[0];
  return summary;
}

interface ReplayCliOptions extends GlobalOptions {
  speed?: string;
  timeFormat?: string;
  consultMinutes?: string;
  quiet?: boolean;
}

function positive(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new DancerError('DANCER_USAGE', `${flag} wants a number >= 0, got "${raw}".`, { details: { [flag]: raw } });
  }
  return n;
}

function greaterThanZero(raw: string | undefined, flag: string): number | undefined {
  const n = positive(raw, flag);
  if (n === 0) {
    throw new DancerError(
      'DANCER_USAGE',
      `${flag} wants a number > 0 (omit it to replay as fast as possible), got "${raw}".`,
      {
        details: { [flag]: raw },
      },
    );
  }
  return n;
}

/** Register `dancer replay`. */
export function register(program: Command): void {
  const command = program
    .command('replay')
    .description('Replay a recorded log through parsing, mining and the triggers; print the decisions it would take.')
    .argument('<file>', 'NDJSON log (times from each record) or plain lines (see --time-format)')
    .option('--speed <n>', 'pace the replay at N times the recorded speed (default: as fast as possible)')
    .option(
      '--time-format <format>',
      'leading time of plain lines: iso, epoch, epoch-ms or strftime like "%Y-%m-%d %H:%M:%S"',
    )
    .option('--consult-minutes <n>', 'virtual minutes each fired consultation keeps its slot', '10')
    .option('--json', 'print one JSON decision per line on stdout')
    .option('-q, --quiet', 'no summary on stderr')
    .addHelpText(
      'after',
      `
Thresholds come from patterns.triggers in dancer.yaml (--config), so you can tune them on your own
history. Plain lines without a time at their start keep the time of the line before (stack traces).
Nothing is written to the real store.`,
    );
  withConfigOption(command);
  command.action(async (file: string, options: ReplayCliOptions) => {
    const loaded = configFor(options);
    const c = makeColors();
    const summary = await runReplay({
      file,
      config: loaded.config,
      speed: greaterThanZero(options.speed, '--speed'),
      timeFormat: options.timeFormat,
      consultMinutes: positive(options.consultMinutes, '--consult-minutes'),
      onDecision: (d, template) => {
        if (options.json) {
          printNdjson({
            at: new Date(d.at).toISOString(),
            rule: d.rule,
            outcome: d.outcome,
            urgent: d.urgent,
            templateId: d.templateId ?? null,
            template: template ?? null,
            reasonCode: d.reasonCode,
            reason: d.reason,
            numbers: d.numbers,
          });
          return;
        }
        const line = `${explainDecision(d)}${template !== undefined ? `\n    pattern ${d.templateId}: ${template}` : ''}`;
        process.stdout.write(`${d.outcome === 'fire' ? c.bold(line) : c.dim(line)}\n`);
      },
    });
    if (!options.quiet) {
      const span =
        summary.from !== null && summary.to !== null
          ? ` from ${new Date(summary.from).toISOString()} to ${new Date(summary.to).toISOString()}`
          : '';
      progress(
        `replayed ${summary.records} records (${summary.lines} lines, ${summary.templates} patterns)${span}: ` +
          `${summary.fired} fired, ${summary.suppressed} suppressed`,
      );
    }
  });
}
