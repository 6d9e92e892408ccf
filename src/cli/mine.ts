import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { CONFIG_FILE_NAMES } from '../defaults.js';
import { DancerError } from '../errors.js';
import { type MinerOptions, minerOptionsFromConfig, TemplateMiner } from '../patterns/index.js';
import { type GlobalOptions, withConfigOption } from './options.js';
import { makeColors, printJson, progress, renderTable } from './output.js';

interface MineOptions extends GlobalOptions {
  assignments?: boolean;
  quiet?: boolean;
  top?: string;
}

/** One template in the output of `dancer mine` (without `--assignments`). */
export interface MinedTemplate {
  id: number;
  count: number;
  template: string;
}

/** The result of mining a stream of messages. */
export interface MineResult {
  /** Lines read. */
  lines: number;
  /** Final template id of each line (index 0 is line 1), after merges. */
  assignments: Int32Array;
  /** Live templates, most frequent first. */
  templates: MinedTemplate[];
  miner: TemplateMiner;
  durationMs: number;
}

/** Register `dancer mine`. */
export function register(program: Command): void {
  const command = program
    .command('mine')
    .description('Mine log templates from messages, one per line (FILE or - for stdin), and print them')
    .argument('[file]', 'file to read, or - for stdin', '-')
    .option(
      '--assignments',
      'print every input line as `<line>\\t<template id>\\t<template>` (1-based; final templates, after all lines)',
    )
    .option('--json', 'JSON output: an array of templates, or NDJSON assignments with --assignments')
    .option('--top <n>', 'print only the N most frequent templates')
    .option('-q, --quiet', 'no summary on stderr')
    .addHelpText(
      'after',
      `
Each line is one message (the text after the timestamp, level and logger; no stack traces). The
miner's settings come from patterns.masks and patterns.miner in dancer.yaml when there is one.
Nothing is written to the store: this is for trying the miner on a log, and for evaluators.

Examples:
  dancer mine app.log                      templates with counts
  cut -d' ' -f4- app.log | dancer mine -   mine stdin
  dancer mine --assignments msgs.txt       <line>\\t<template id>\\t<template> for every line`,
    );
  withConfigOption(command);
  command.action(async (file: string, options: MineOptions) => {
    const top = parseTop(options.top);
    const minerOptions = await minerOptionsFor(options);
    const input = await openInput(file);
    const result = await mineStream(input, new TemplateMiner(minerOptions));
    if (options.assignments) writeAssignments(result, Boolean(options.json));
    else if (options.json) printJson(top === undefined ? result.templates : result.templates.slice(0, top));
    else writeTemplates(result, top);
    if (!options.quiet) {
      progress(
        `mined ${result.lines} lines into ${result.templates.length} templates in ${(result.durationMs / 1000).toFixed(2)} s`,
      );
    }
  });
}

/**
 * The miner's settings: from dancer.yaml when one is given or found, else the miner's defaults
 * (the same as an empty dancer.yaml's) without loading the config schema, which costs a start-up
 * of a fifth of a second.
 */
async function minerOptionsFor(options: GlobalOptions): Promise<MinerOptions | undefined> {
  const found = options.config !== undefined || CONFIG_FILE_NAMES.some((name) => existsSync(name));
  if (!found) return undefined;
  const { configFor } = await import('./common.js');
  return minerOptionsFromConfig(configFor(options).config);
}

function parseTop(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new DancerError('DANCER_USAGE', `--top must be a positive integer, not ${value}`);
  return n;
}

async function openInput(file: string): Promise<Readable> {
  if (file === '-') return process.stdin;
  try {
    const s = await stat(file);
    if (s.isDirectory()) throw new Error('is a directory');
  } catch (error) {
    throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
      details: { file },
    });
  }
  // Big reads: each read is a trip through libuv's thread pool.
  return createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
}

/**
 * Mine every line of `input` (LF or CRLF; a last line without a newline counts) and resolve each
 * line's template after all lines are seen.
 */
export async function mineStream(input: Readable, miner: TemplateMiner): Promise<MineResult> {
  const started = performance.now();
  let ids = new Int32Array(4096);
  let n = 0;
  const one = (line: string) => {
    if (n === ids.length) {
      const bigger = new Int32Array(ids.length * 2);
      bigger.set(ids);
      ids = bigger;
    }
    ids[n++] = miner.addId(line.endsWith('\r') ? line.slice(0, -1) : line);
  };
  // Lines are cut from each chunk by hand: readline's per-line events cost more than mining.
  input.setEncoding('utf8');
  let rest = '';
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      let from = 0;
      let nl = chunk.indexOf('\n');
      if (nl >= 0 && rest !== '') {
        one(rest + chunk.slice(0, nl));
        rest = '';
        from = nl + 1;
        nl = chunk.indexOf('\n', from);
      }
      while (nl >= 0) {
        one(chunk.slice(from, nl));
        from = nl + 1;
        nl = chunk.indexOf('\n', from);
      }
      rest += chunk.slice(from);
    }
  } catch (error) {
    throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot read input: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (rest !== '') one(rest);
  const assignments = ids.subarray(0, n);
  for (let i = 0; i < n; i++) assignments[i] = miner.resolveId(assignments[i] as number) ?? (assignments[i] as number);
  const templates = miner
    .templates()
    .filter((t) => t.mergedInto === undefined)
    .map((t) => ({ id: t.id, count: t.count, template: t.template }))
    .sort((a, b) => b.count - a.count || a.id - b.id);
  return { lines: n, assignments, templates, miner, durationMs: performance.now() - started };
}

function writeAssignments(result: MineResult, json: boolean): void {
  if (!json) {
    writeAssignmentBytes(result);
    return;
  }
  const text = new Map<number, string>();
  for (const t of result.templates) text.set(t.id, t.template);
  let chunk = '';
  for (let i = 0; i < result.lines; i++) {
    const id = result.assignments[i] as number;
    const template = text.get(id) ?? '';
    chunk += `${JSON.stringify({ line: i + 1, templateId: id, template })}\n`;
    if (chunk.length > 1 << 16) {
      process.stdout.write(chunk);
      chunk = '';
    }
  }
  if (chunk) process.stdout.write(chunk);
}

/**
 * `<line>\t<template id>\t<template>` for every line, written as bytes: each template's
 * `\t<id>\t<template>\n` is encoded once, and a line costs its number's digits and one copy
 * (no string is built per line).
 */
function writeAssignmentBytes(result: MineResult): void {
  const tails: Buffer[] = [];
  for (const t of result.templates) tails[t.id] = Buffer.from(`\t${t.id}\t${t.template}\n`);
  const size = 1 << 20;
  let buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < result.lines; i++) {
    const id = result.assignments[i] as number;
    let tail = tails[id];
    if (tail === undefined) {
      tail = Buffer.from(`\t${id}\t\n`);
      tails[id] = tail;
    }
    if (at + 16 + tail.length > buf.length) {
      process.stdout.write(buf.subarray(0, at));
      buf = Buffer.allocUnsafe(Math.max(size, 16 + tail.length));
      at = 0;
    }
    at = writeDecimal(buf, at, i + 1);
    buf.set(tail, at);
    at += tail.length;
  }
  if (at > 0) process.stdout.write(buf.subarray(0, at));
}

/** Write the decimal digits of a positive integer at `at`; returns the offset after them. */
function writeDecimal(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let x = n;
  for (let k = at + digits - 1; k >= at; k--) {
    buf[k] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  return at + digits;
}

function writeTemplates(result: MineResult, top: number | undefined): void {
  const colors = makeColors();
  const list = top === undefined ? result.templates : result.templates.slice(0, top);
  const rows = list.map((t) => [String(t.id), String(t.count), t.template.replace(/<\*>/g, colors.cyan('<*>'))]);
  process.stdout.write(renderTable(['ID', 'COUNT', 'TEMPLATE'], rows, colors));
}
