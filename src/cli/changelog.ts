/**
 * `dancer changelog [--since DATE] [--output CHANGELOG.md] [--json]`: every fix and rollback,
 * time-ordered, from the dancer/fix-* and dancer/rollback-* branches, their merges and the store.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildChangelog, collectChangelog, renderChangelog } from '../fixes/index.js';
import { openStore, parseTimeArg } from '../store/index.js';
import { fixDeployVerdicts } from '../supervise/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { repoFor } from './fixes.js';
import { printJson, progress } from './output.js';

interface ChangelogOptions extends GlobalOptions {
  since?: string;
  output?: string;
  repo?: string;
  branch?: string;
}

async function changelogCommand(options: ChangelogOptions): Promise<void> {
  const now = Date.now();
  const since = options.since ? parseTimeArg(options.since, now) : 0;
  const loaded = configFor(options);
  const file = dbPathFor(options, loaded);
  const db = existsSync(file) ? openStore(file, { readonly: true }) : undefined;
  if (!db) progress(`No database at ${file}; the changelog comes from git alone.`);
  let items: ReturnType<typeof buildChangelog>;
  try {
    const repo = repoFor(options);
    const mainRef = options.branch ?? loaded.config.fixes.mainBranch ?? 'HEAD';
    const verdicts = db && ((fixId: number) => fixDeployVerdicts(db, fixId));
    items = buildChangelog(await collectChangelog(db, repo, now, mainRef, verdicts), since);
  } finally {
    db?.close();
  }
  if (options.json) {
    printJson(items);
    return;
  }
  const text = renderChangelog(items, now);
  if (options.output) {
    const target = path.resolve(options.output);
    writeFileSync(target, text);
    progress(`Wrote ${items.length} entr${items.length === 1 ? 'y' : 'ies'} to ${target}`);
  } else process.stdout.write(text);
}

/** Register `dancer changelog`. */
export function register(program: Command): void {
  withDbOption(
    program
      .command('changelog')
      .description('Write a time-ordered, human-readable changelog of every fix and rollback.')
      .option('--since <date>', 'only entries since (an ISO date, or 7d, 24h, ...)')
      .option('--output <file>', 'write Markdown to this file (e.g. CHANGELOG.md) instead of stdout')
      .option('--repo <dir>', 'service repository (default: fixes.repo from dancer.yaml)')
      .option('--branch <ref>', 'branch whose merges to scan (default: fixes.mainBranch, else HEAD)')
      .option('--json', 'print the entries as JSON on stdout'),
  ).action((options: ChangelogOptions) => changelogCommand(options));
}
