/**
 * Zulip `rollback ID` for a fix that no longer serves (a later deploy went on top) goes through
 * the one rollback path (the healing loop's recorder): the fix's merge is reverted on main, the
 * result deployed through the supervisor, the fix recorded `rolled_back` by the human who asked,
 * and audited. Real supervisor and workers, real git, real gate, the Zulip test server.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFix } from '../../src/fixes/pipeline.js';
import { fixEvents, getFix } from '../../src/fixes/records.js';
import { listAudit } from '../../src/notify/audit.js';
import { createNotifyHub } from '../../src/notify/events.js';
import { createZulipBot } from '../../src/notify/index.js';
import { createZulipTestServer } from '../../src/testing/index.js';
import { get, waitFor } from '../supervise/helpers.js';
import { startRollbackHarness } from './rollback-harness.js';

const LISTEN = path.resolve(import.meta.dirname, '../../dist/supervise/listen.js');
const appSource = (tag: string) => `import http from 'node:http';
import { listen } from ${JSON.stringify(LISTEN)};
await listen(http.createServer((req, res) => { res.end(process.pid + ' ' + process.env.DANCER_RELEASE + ' ${tag}\\n'); }));
`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('Zulip rollback ID of a fix that no longer serves', () => {
  it('reverts the fix on main and deploys the revert, recorded and audited', async () => {
    const { dir, git, sup, db, port, deps, actions } = await startRollbackHarness({
      start: 'node app.mjs',
      observe: { windowSeconds: 1, checkEverySeconds: 0.2, minRecords: 0 },
      files: { 'app.mjs': appSource('good') },
      commit: 'good',
      cleanups,
      runAgent: async (wt) => {
        writeFileSync(path.join(wt, 'app.mjs'), appSource('fixed'));
        mkdirSync(path.join(wt, 'test'), { recursive: true });
        writeFileSync(
          path.join(wt, 'test/fixed.test.mjs'),
          `import assert from 'node:assert/strict';\nimport { readFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('fixed', () => assert.match(readFileSync(new URL('../app.mjs', import.meta.url), 'utf8'), /fixed/));\n`,
        );
        return { kind: 'fix', summary: 'Say fixed', risk: 'low', regressionTest: 'test/fixed.test.mjs', costUsd: 0 };
      },
    });
    const hub = createNotifyHub();

    // fix 1 is approved, deployed and passes its window
    const fix = await startFix(deps(), { patternId: 'p1', patternHash: 'feedbeef00', patternText: 'boom' });
    expect(fix.state).toBe('awaiting_approval');
    await actions.approve(fix.id, 'human:alice@dancer.test');
    await waitFor(() => getFix(db, fix.id).state === 'deployed', 60_000, 'the fix deployed');
    expect((await get(port, '/')).body).toContain('fixed');
    // then a later change is deployed on top: the fix no longer serves alone
    writeFileSync(path.join(dir, 'NOTES.md'), 'later change\n');
    git('add', 'NOTES.md');
    git('commit', '-q', '-m', 'later change');
    const later = await sup.deploy('HEAD');
    expect(later.status).toBe('succeeded');
    const laterTree = git('rev-parse', 'HEAD^{tree}');
    expect(sup.status().currentRelease).toBe(laterTree);

    const server = await createZulipTestServer({
      users: [
        { email: 'dancer-bot@dancer.test', fullName: 'Dancer', isBot: true },
        { email: 'alice@dancer.test', fullName: 'Alice Ops' },
      ],
    });
    cleanups.push(() => server.close());
    const botUser = server.user('dancer-bot@dancer.test');
    const errors: string[] = [];
    const bot = createZulipBot({
      settings: {
        site: server.url,
        email: botUser.email,
        apiKeyEnv: 'TEST_ZULIP_KEY',
        stream: 'dancer',
        statusTopic: 'dancer',
        allow: ['alice@dancer.test'],
        reactions: { approve: 'check', reject: 'cross_mark' },
        digestHourUtc: 9,
        maxRetryDelaySeconds: 0.2,
      },
      env: { TEST_ZULIP_KEY: botUser.api_key },
      db,
      actions,
      feed: hub,
      onError: (error, context) => errors.push(`${context}: ${(error as Error).message}`),
    });
    bot.start();
    cleanups.push(() => bot.stop());
    await server.waitFor(
      () => server.queues().some((q) => q.polling && q.userId === botUser.user_id) && bot.me !== undefined,
    );

    server.sendMessage('alice@dancer.test', {
      stream: 'dancer',
      topic: 'dancer',
      content: `@**Dancer** rollback ${fix.id}`,
    });
    const reply = await server.waitForMessage(
      (m) => m.sender_id === botUser.user_id && m.content.includes(`Fix ${fix.id} rolled back`),
      90_000,
    );
    expect(reply.content).toMatch(/revert [0-9a-f]{12} merged and deployed/);

    const after = getFix(db, fix.id);
    expect(after.state).toBe('rolled_back');
    expect(fixEvents(db, fix.id).at(-1)).toMatchObject({ actor: 'human:alice@dancer.test' });
    // the revert undid the fix and kept the later change; it serves, and main holds its tree
    expect(git('show', 'HEAD:app.mjs')).toContain(' good');
    expect(git('show', 'HEAD:NOTES.md')).toBe('later change');
    expect(git('log', '--first-parent', '-1', '--format=%s')).toMatch(new RegExp(`^Roll back dancer fix ${fix.id}`));
    await waitFor(() => sup.status().currentRelease === git('rev-parse', 'HEAD^{tree}'), 30_000, 'the revert serving');
    const answer = (await get(port, '/')).body.trim().split(' ');
    expect(answer.slice(1)).toEqual([git('rev-parse', 'HEAD^{tree}'), 'good']);
    const audit = listAudit(db).filter((a) => a.action === 'rollback');
    expect(audit.map((a) => [a.actor, a.source, a.target, a.outcome])).toEqual([
      ['human:alice@dancer.test', 'system', `fix:${fix.id}`, 'ok'],
      ['human:alice@dancer.test', 'zulip-command', `fix:${fix.id}`, 'ok'],
    ]);
    expect(errors).toEqual([]);
  }, 180_000);
});
