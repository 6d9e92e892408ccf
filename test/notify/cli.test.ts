import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/notify/audit.js';
import { OutboxStore } from '../../src/notify/zulip/outbox.js';
import { openStore } from '../../src/store/open.js';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';

// Runs the built CLI: `npm run build` first.
const BIN = path.resolve(import.meta.dirname, '../../bin/dancer.js');
const servers: ZulipTestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('dancer zulip', () => {
  it('check: verifies the credentials from a .zuliprc against the server', async () => {
    const server = await createZulipTestServer({
      users: [{ email: 'bot@dancer.test', fullName: 'Dancer', isBot: true }],
    });
    servers.push(server);
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-zulip-cli-'));
    const bot = server.user('bot@dancer.test');
    writeFileSync(path.join(dir, 'zuliprc'), `[api]\nemail=${bot.email}\nkey=${bot.api_key}\nsite=${server.url}\n`);
    writeFileSync(
      path.join(dir, 'dancer.yaml'),
      'notify:\n  zulip:\n    zuliprc: zuliprc\n    allow: [alice@dancer.test]\n',
    );
    const ok = await execa('node', [BIN, 'zulip', 'check', '--json'], { cwd: dir, env: { NO_COLOR: '1' } });
    expect(JSON.parse(ok.stdout)).toMatchObject({
      email: 'bot@dancer.test',
      userId: bot.user_id,
      isBot: true,
      featureLevel: 321,
      stream: 'dancer',
      allow: ['alice@dancer.test'],
    });
    writeFileSync(path.join(dir, 'zuliprc'), `[api]\nemail=${bot.email}\nkey=${'x'.repeat(32)}\nsite=${server.url}\n`);
    const bad = await execa('node', [BIN, 'zulip', 'check'], { cwd: dir, reject: false, env: { NO_COLOR: '1' } });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('DANCER_ZULIP_AUTH');
  });

  it('outbox, retry and audit read and fix the store', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-zulip-cli-'));
    const file = path.join(dir, 'dancer.db');
    const db = openStore(file);
    const store = new OutboxStore(db);
    const failed = store.enqueue({ dest: 'stream', stream: 'nope', topic: 't', content: 'lost?' });
    store.markFailed([failed], "Channel 'nope' does not exist");
    store.enqueue({ dest: 'stream', stream: 'dancer', topic: 't', content: 'waiting' });
    recordAudit(db, {
      ts: Date.UTC(2026, 0, 1),
      actor: 'human:mallory@x',
      source: 'zulip-command',
      action: 'approve',
      target: 'fix:1',
      outcome: 'refused',
    });
    db.close();
    const outbox = await execa('node', [BIN, 'zulip', 'outbox', '--db', file, '--state', 'all', '--json']);
    expect(JSON.parse(outbox.stdout)).toMatchObject({
      counts: { pending: 1, failed: 1 },
      rows: [{ state: 'failed' }, { state: 'pending' }],
    });
    const retry = await execa('node', [BIN, 'zulip', 'retry', String(failed), '--db', file, '--json']);
    expect(JSON.parse(retry.stdout)).toEqual({ requeued: [failed] });
    const audit = await execa('node', [BIN, 'zulip', 'audit', '--db', file], { env: { NO_COLOR: '1' } });
    expect(audit.stdout).toContain('human:mallory@x');
    expect(audit.stdout).toContain('refused');
    const usage = await execa('node', [BIN, 'zulip', 'outbox', '--db', file, '--state', 'weird'], { reject: false });
    expect(usage.exitCode).toBe(2);
    const help = await execa('node', [BIN, 'zulip', '--help']);
    expect(help.stdout).toContain('outbox');
  });
});
