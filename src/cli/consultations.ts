/**
 * `dancer consultations list|show ID [--transcript] [--json]`: the consultations Dancer held with
 * Claude (or turned into manual bundles), what they cost, what they produced, and, on request,
 * the whole transcript (redacted).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { provenanceLines, provenanceOf, queries as q } from '../dashboard/index.js';
import { DancerError } from '../errors.js';
import { type Db, openStore } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { makeColors, printJson, renderTable } from './output.js';

interface ConsultationsOptions extends GlobalOptions {
  transcript?: boolean;
  limit?: string;
}

function withDb<T>(options: GlobalOptions, fn: (db: Db) => T): T {
  const loaded = configFor(options);
  const file = dbPathFor(options, loaded);
  if (!existsSync(file)) throw new DancerError('DANCER_NOT_FOUND', `No database at ${file}.`, { details: { file } });
  const db = openStore(file, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) : '-');

function list(options: ConsultationsOptions): void {
  const limit = Number(options.limit ?? 50);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new DancerError('DANCER_USAGE', '--limit wants a positive integer.');
  withDb(options, (db) => {
    const rows = q.consultations(db, limit);
    if (options.json) return printJson(rows);
    if (rows.length === 0) return void process.stdout.write('No consultations.\n');
    const c = makeColors();
    process.stdout.write(
      renderTable(
        ['ID', 'CREATED (UTC)', 'PATTERN', 'TRIGGER', 'STATUS', 'OUTCOME', 'COST', 'TURNS', 'FIXES'],
        rows.map((r) => [
          String(r.id),
          iso(r.createdAt),
          r.templateId === null ? '-' : String(r.templateId),
          r.triggerKind ?? '-',
          r.status,
          r.outcomeKind ?? '-',
          r.costUsd === null ? '-' : `$${r.costUsd.toFixed(4)}`,
          r.turns === null ? '-' : String(r.turns),
          r.fixes.join(',') || '-',
        ]),
        c,
      ),
    );
  });
}

function show(rawId: string, options: ConsultationsOptions): void {
  const id = Number(rawId);
  if (!Number.isInteger(id) || id <= 0) throw new DancerError('DANCER_USAGE', `Not a consultation id: "${rawId}".`);
  withDb(options, (db) => {
    const data = q.consultation(db, id, { transcript: Boolean(options.transcript) });
    const chains = data.fixes.map((f) => provenanceOf(db, f.id));
    if (options.json) {
      const { transcript, ...rest } = data;
      return printJson({ ...rest, ...(options.transcript ? { transcript } : {}), provenance: chains });
    }
    const c = makeColors();
    const out: string[] = [
      `${c.bold(`Consultation ${data.id}`)}  ${data.status}${data.outcomeKind ? `, outcome ${data.outcomeKind}` : ''}  (${data.mode}${data.urgent ? ', urgent' : ''})`,
      `${c.dim('created'.padEnd(10))} ${iso(data.createdAt)}  finished ${iso(data.finishedAt)}`,
      `${c.dim('pattern'.padEnd(10))} ${data.templateId ?? '-'}  trigger ${data.triggerKind ?? '-'}`,
    ];
    if (data.ledger) {
      const l = data.ledger;
      out.push(
        `${c.dim('cost'.padEnd(10))} $${l.costUsd.toFixed(4)}  ${l.model ?? ''}  ${l.turns} turns  ${l.inputTokens} in / ${l.outputTokens} out tokens  ${(l.durationMs / 1000).toFixed(1)} s`,
      );
    }
    if (data.error) out.push(`${c.dim('error'.padEnd(10))} ${data.error}`);
    if (data.manualReason) out.push(`${c.dim('manual'.padEnd(10))} ${data.manualReason}`);
    out.push('', c.bold('Provenance'));
    if (chains.length === 0) out.push('  no fix came of it');
    for (const chain of chains) out.push(...provenanceLines(chain).map((l) => `  ${l}`));
    if (options.transcript) {
      out.push('', c.bold(`Transcript (${data.transcript.length} messages, redacted)`));
      for (const m of data.transcript) {
        out.push(c.dim(`--- ${m.seq} ${m.role} ${iso(m.ts)}`));
        if (m.text) out.push(m.text);
      }
    } else out.push('', c.dim('(--transcript shows the whole conversation)'));
    process.stdout.write(`${out.join('\n')}\n`);
  });
}

/** Register `dancer consultations`. */
export function register(program: Command): void {
  const group = program
    .command('consultations')
    .description('Consultations with Claude: cost, outcome, the fixes they produced, and transcripts.');
  const common = (cmd: Command) => withDbOption(cmd).option('--json', 'print JSON on stdout');
  common(
    group
      .command('list', { isDefault: true })
      .description('Consultations, newest first.')
      .option('--limit <n>', 'at most N', '50'),
  ).action((options: ConsultationsOptions) => list(options));
  common(
    group
      .command('show <id>')
      .description('One consultation with its cost and provenance; --transcript adds the conversation.')
      .option('--transcript', 'print the whole transcript (redacted)'),
  ).action((id: string, options: ConsultationsOptions) => show(id, options));
}
