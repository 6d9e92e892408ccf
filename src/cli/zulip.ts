/**
 * `dancer zulip …`: check the bot's credentials, look at the outbox and the audit log, and put
 * messages Zulip refused back in the queue.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import { listAudit, OutboxStore, resolveCredentials, ZulipClient, type ZulipSuccess } from '../notify/index.js';
import { openStore } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withConfigOption, withDbOption } from './common.js';
import { makeColors, printJson, progress, renderTable } from './output.js';

function zulipSettings(options: GlobalOptions) {
  const loaded = configFor(options);
  const settings = loaded.config.notify.zulip;
  if (!settings) {
    throw new DancerError('DANCER_CONFIG_INVALID', 'No notify.zulip section in dancer.yaml (see docs/zulip.md).', {
      details: { key: 'notify.zulip' },
    });
  }
  return { loaded, settings };
}

async function checkCommand(options: GlobalOptions): Promise<void> {
  const { loaded, settings } = zulipSettings(options);
  const credentials = resolveCredentials(settings, { baseDir: loaded.dir });
  const client = new ZulipClient(credentials, { timeoutMs: 10_000 });
  progress(`Asking ${credentials.site} who ${credentials.email} is …`);
  const me = await client.getOwnUser();
  const server = await client.request<ZulipSuccess & { zulip_version?: string; zulip_feature_level?: number }>(
    'GET',
    '/server_settings',
  );
  const result = {
    site: credentials.site,
    userId: me.user_id,
    email: me.email,
    fullName: me.full_name,
    isBot: me.is_bot,
    zulipVersion: server.zulip_version,
    featureLevel: server.zulip_feature_level,
    stream: settings.stream,
    allow: settings.allow,
  };
  if (options.json) {
    printJson(result);
    return;
  }
  const c = makeColors();
  process.stdout.write(
    `${c.green('ok')}: ${me.full_name} <${me.email}> (user ${me.user_id}${me.is_bot ? ', bot' : ''}) on ${credentials.site}, ` +
      `Zulip ${server.zulip_version ?? '?'} (feature level ${server.zulip_feature_level ?? '?'}).\n` +
      `Posts to #${settings.stream}; obeys ${settings.allow.length === 0 ? c.yellow('no one (notify.zulip.allow is empty)') : settings.allow.join(', ')}.\n`,
  );
}

function openDb(options: GlobalOptions, readonly: boolean) {
  const file = dbPathFor(options);
  if (!existsSync(file)) {
    throw new DancerError('DANCER_STORE_OPEN_FAILED', `No database at ${file}.`, { details: { file } });
  }
  return openStore(file, { readonly });
}

interface OutboxOptions extends GlobalOptions {
  state?: string;
  limit?: string;
}

function outboxCommand(options: OutboxOptions): void {
  const state = options.state ?? 'pending';
  if (!['pending', 'failed', 'sent', 'all'].includes(state)) {
    throw new DancerError('DANCER_USAGE', `--state must be pending, failed, sent or all (got ${state}).`);
  }
  const limit = Number(options.limit ?? 50);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new DancerError('DANCER_USAGE', '--limit must be a positive integer.');
  const db = openDb(options, true);
  try {
    const store = new OutboxStore(db);
    const rows = store
      .all()
      .filter((r) => state === 'all' || r.state === state)
      .slice(-limit);
    if (options.json) {
      printJson({ counts: store.counts(), rows });
      return;
    }
    const counts = store.counts();
    progress(
      `outbox: ${counts.pending} pending, ${counts.failed} failed, ${counts.sent} sent, ${counts.merged} merged, ${counts.superseded} superseded`,
    );
    const c = makeColors();
    process.stdout.write(
      renderTable(
        ['id', 'created', 'op', 'where', 'state', 'tries', 'text / error'],
        rows.map((r) => [
          String(r.id),
          new Date(r.createdAt).toISOString().slice(0, 19),
          r.op,
          r.dest === 'stream' ? `#${r.stream} > ${r.topic}` : `dm ${JSON.stringify(r.toUsers)}`,
          r.state === 'failed' ? c.red(r.state) : r.state,
          String(r.attempts),
          (r.lastError ?? r.content).replace(/\s+/g, ' ').slice(0, 80),
        ]),
        c,
      ),
    );
  } finally {
    db.close();
  }
}

function retryCommand(ids: string[], options: GlobalOptions): void {
  const parsed = ids.map((id) => Number(id));
  if (parsed.some((n) => !Number.isInteger(n) || n <= 0))
    throw new DancerError('DANCER_USAGE', 'IDs are outbox row ids.');
  const db = openDb(options, false);
  try {
    const changed = new OutboxStore(db).requeueFailed(parsed);
    if (options.json) {
      printJson({ requeued: changed });
      return;
    }
    progress(
      `Requeued ${changed.length} of ${parsed.length} (only failed rows can be requeued); the running bot sends them.`,
    );
  } finally {
    db.close();
  }
}

interface AuditOptions extends GlobalOptions {
  limit?: string;
}

function auditCommand(options: AuditOptions): void {
  const limit = Number(options.limit ?? 50);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new DancerError('DANCER_USAGE', '--limit must be a positive integer.');
  const db = openDb(options, true);
  try {
    const rows = listAudit(db).slice(-limit);
    if (options.json) {
      printJson(rows);
      return;
    }
    const c = makeColors();
    process.stdout.write(
      renderTable(
        ['when', 'who', 'via', 'action', 'target', 'outcome', 'detail'],
        rows.map((r) => [
          new Date(r.ts).toISOString().slice(0, 19),
          r.actor,
          r.source,
          r.action,
          r.target ?? '',
          r.outcome === 'ok' ? c.green(r.outcome) : c.yellow(r.outcome),
          (r.detail ?? '').replace(/\s+/g, ' ').slice(0, 80),
        ]),
        c,
      ),
    );
  } finally {
    db.close();
  }
}

/** Register `dancer zulip`. */
export function register(program: Command): void {
  const zulip = program
    .command('zulip')
    .description('The Zulip bot: check credentials, see the outbox and the audit log.');
  withConfigOption(
    zulip
      .command('check')
      .description("Verify notify.zulip: who the bot is on the server, the server's version, the allow-list.")
      .option('--json', 'print the result as JSON'),
  ).action((options: GlobalOptions) => checkCommand(options));
  withDbOption(
    zulip
      .command('outbox')
      .description('Messages waiting for (or refused by) Zulip.')
      .option('--state <state>', 'pending, failed, sent or all', 'pending')
      .option('--limit <n>', 'at most this many rows (newest)', '50')
      .option('--json', 'print counts and rows as JSON'),
  ).action((options: OutboxOptions) => outboxCommand(options));
  withDbOption(
    zulip
      .command('retry')
      .description('Put failed outbox rows back in the queue.')
      .argument('<ids...>', 'outbox row ids (see `dancer zulip outbox --state failed`)')
      .option('--json', 'print the requeued ids as JSON'),
  ).action((ids: string[], options: GlobalOptions) => retryCommand(ids, options));
  withDbOption(
    zulip
      .command('audit')
      .description('Who decided what, and when: every command the bot obeyed or refused.')
      .option('--limit <n>', 'at most this many entries (newest)', '50')
      .option('--json', 'print the entries as JSON'),
  ).action((options: AuditOptions) => auditCommand(options));
}
