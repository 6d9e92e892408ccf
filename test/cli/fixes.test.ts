/**
 * `dancer fixes`, `dancer policy check` and `dancer changelog` through the built CLI, against a
 * real git repository and store filled by the real pipeline (fake agents writing real code).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FixRecord, RunAgent } from '../../src/fixes/index.js';
import { advanceFix, approveFix, startFix } from '../../src/fixes/pipeline.js';
import { fixEvents, getFix, pendingRetries } from '../../src/fixes/records.js';
import { openStore } from '../../src/store/open.js';
import {
  brokenBuildAgent,
  depsFor,
  goodAgent,
  makeServiceRepo,
  type ServiceRepo,
  sh,
  weakTestAgent,
} from '../fixes/helpers.js';

const BIN = fileURLToPath(new URL('../../bin/dancer.js', import.meta.url));

function dancer(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', USER: 'osuser' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let r: ServiceRepo;
const ids = {} as Record<'deployed' | 'broken' | 'weak' | 'toReject' | 'toApprove' | 'rolledBack', number>;
let clock = Date.UTC(2026, 10, 20, 9, 0);
const tick = () => {
  clock += 60_000;
  return clock;
};

beforeAll(async () => {
  if (!existsSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)))) {
    throw new Error('dist/ is missing: run npm run build before the CLI tests');
  }
  r = makeServiceRepo('dancer-cli-fixes-');
  writeFileSync(path.join(r.root, 'dancer.yaml'), 'store:\n  path: dancer.db\nfixes:\n  repo: repo\n');
  const initial = sh(r.repo, 'rev-parse', 'HEAD');
  const base = depsFor(r, goodAgent, { clock: tick, deployedCommit: () => initial });
  const withAgent = (agent: RunAgent, extra = {}) => ({ ...base, runAgent: agent, ...extra });
  const noRepair = { ...base.fixes, repairRounds: 0 };
  // 1: deployed, with pattern buckets so the changelog shows the rate before and after.
  const deployed = await startFix(withAgent(goodAgent), {
    patternId: '7',
    patternHash: 'aaaa1111',
    patternText: 'total failed <*>',
  });
  await approveFix(base, deployed.id, 'alice');
  const done = await advanceFix(withAgent(goodAgent, { deploy: async () => ({ ok: true }) }), deployed.id);
  ids.deployed = done.id;
  // 2: fails at typecheck.
  ids.broken = (
    await startFix(withAgent(brokenBuildAgent, { fixes: noRepair }), { patternId: '8', patternHash: 'bbbb2222' })
  ).id;
  // 3: refused: the regression test already passes on base.
  ids.weak = (
    await startFix(withAgent(weakTestAgent, { fixes: noRepair }), { patternId: '9', patternHash: 'cccc3333' })
  ).id;
  // 4: waits for approval (the CLI rejects it); 5: waits too (the CLI approves it).
  ids.toReject = (await startFix(withAgent(goodAgent), { patternId: '10', patternHash: 'dddd4444' })).id;
  ids.toApprove = (await startFix(withAgent(goodAgent), { patternId: '11', patternHash: 'eeee5555' })).id;
  // 6: an improve_logging change that deploys and is rolled back by the observation window.
  const logging: RunAgent = async (dir) => {
    const file = path.join(dir, 'src/server.mjs');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace("msg: 'total failed',", "msg: 'total failed', items: body.length,"),
    );
    return {
      kind: 'improve_logging',
      summary: 'Log the request body size when a total fails',
      missing: 'the cart size',
      risk: 'low',
      costUsd: 0.02,
    };
  };
  const loggingFix = await startFix(withAgent(logging), { patternId: '12', patternHash: 'ffff6666' });
  await approveFix(base, loggingFix.id, 'alice');
  ids.rolledBack = (
    await advanceFix(
      withAgent(logging, {
        deploy: async () => ({ ok: true }),
        observe: async () => ({ verdict: 'rollback', reason: 'memory grew 40% over baseline' }),
      }),
      loggingFix.id,
    )
  ).id;
  // Pattern 7 ran at 5/min for the hour before its fix was merged, and stopped after.
  const merged = fixEvents(base.db, ids.deployed).find((e) => e.event === 'deploy')!.ts;
  const minute = Math.floor(merged / 60_000);
  const insert = base.db.prepare('INSERT INTO template_buckets (template_id, minute, count) VALUES (7, ?, 5)');
  for (let m = minute - 60; m < minute; m++) insert.run(m);
  base.db.close();
}, 180_000);

describe('dancer fixes', () => {
  it('list --json shows every fix, newest first; --state filters', () => {
    const all = dancer(r.root, 'fixes', 'list', '--json');
    expect(all.code).toBe(0);
    const fixes = JSON.parse(all.stdout) as FixRecord[];
    expect(fixes.map((f) => f.id)).toEqual([
      ids.rolledBack,
      ids.toApprove,
      ids.toReject,
      ids.weak,
      ids.broken,
      ids.deployed,
    ]);
    const failed = JSON.parse(dancer(r.root, 'fixes', 'list', '--state', 'failed', '--json').stdout) as FixRecord[];
    expect(failed.map((f) => f.id).sort()).toEqual([ids.broken, ids.weak].sort());
    const text = dancer(r.root, 'fixes');
    expect(text.stdout).toMatch(/^ID\s+STATE\s+CREATED \(UTC\)/);
    expect(text.stdout).toContain('awaiting_approval');
    expect(dancer(r.root, 'fixes', 'list', '--state', 'nope').code).toBe(2);
  });

  it('show prints the history and the failing gate step with its output', () => {
    const out = dancer(r.root, 'fixes', 'show', String(ids.broken));
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`Fix ${ids.broken}  failed`);
    expect(out.stdout).toMatch(/failed at\s+typecheck/);
    expect(out.stdout).toMatch(/round 0\s+typecheck\s+exit \d+/);
    expect(out.stdout).toContain('Output of typecheck (tail)');
    const json = JSON.parse(dancer(r.root, 'fixes', 'show', String(ids.deployed), '--json').stdout);
    expect(json.fix.state).toBe('deployed');
    expect(json.events.map((e: { toState: string }) => e.toState)).toContain('approved');
    expect(json.gateSteps.length).toBeGreaterThan(0);
    const missing = dancer(r.root, 'fixes', 'show', '999', '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe('DANCER_NOT_FOUND');
  });

  it('diff prints the change from the base commit', () => {
    const out = dancer(r.root, 'fixes', 'diff', String(ids.deployed));
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('+++ b/src/cart.mjs');
    expect(out.stdout).toContain(
      '+  return items.map((item) => (priceOf(item.sku) ?? 0) * item.quantity).reduce((a, b) => a + b, 0);',
    );
    expect(out.stdout).toContain('+++ b/test/cart-empty.test.mjs');
  });

  it('approve and reject record who did it; reject needs a reason; illegal moves are refused', () => {
    const noReason = dancer(r.root, 'fixes', 'reject', String(ids.toReject));
    expect(noReason.code).not.toBe(0);
    const rejected = dancer(
      r.root,
      'fixes',
      'reject',
      String(ids.toReject),
      '--reason',
      'wrong layer',
      '--by',
      'bob',
      '--json',
    );
    expect(rejected.code).toBe(0);
    expect(JSON.parse(rejected.stdout).state).toBe('rejected');
    const approved = dancer(r.root, 'fixes', 'approve', String(ids.toApprove));
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`Fix ${ids.toApprove} approved by osuser`);
    const again = dancer(r.root, 'fixes', 'approve', String(ids.toApprove));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('DANCER_ILLEGAL_TRANSITION');
    const db = openStore(path.join(r.root, 'dancer.db'));
    expect(fixEvents(db, ids.toReject).at(-1)).toMatchObject({ actor: 'human:bob', reason: 'wrong layer' });
    expect(fixEvents(db, ids.toApprove).at(-1)).toMatchObject({ actor: 'human:osuser', toState: 'approved' });
    db.close();
  });

  it('retry records a request the supervisor picks up; open fixes cannot be retried', () => {
    const out = dancer(r.root, 'fixes', 'retry', String(ids.broken), '--reason', 'keep the types right', '--json');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({
      fixId: ids.broken,
      requestedBy: 'osuser',
      reason: 'keep the types right',
    });
    const db = openStore(path.join(r.root, 'dancer.db'));
    expect(pendingRetries(db).map((p) => p.fixId)).toEqual([ids.broken]);
    expect(getFix(db, ids.broken).state).toBe('failed');
    db.close();
    expect(dancer(r.root, 'fixes', 'retry', String(ids.toApprove)).code).toBe(2);
  });
});

describe('dancer policy check', () => {
  it('checks a branch against the main branch, and a diff file', () => {
    const db = openStore(path.join(r.root, 'dancer.db'));
    const branch = getFix(db, ids.toApprove).branch as string;
    db.close();
    const ok = dancer(r.root, 'policy', 'check', branch, '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, filesChanged: 2, needsApproval: true });
    // A branch that edits CI config and skips a test.
    sh(r.repo, 'checkout', '-q', '-b', 'human/bad');
    writeFileSync(path.join(r.repo, '.gitlab-ci.yml'), 'test: {}\n');
    const t = path.join(r.repo, 'test/cart.test.mjs');
    writeFileSync(t, readFileSync(t, 'utf8').replace("test('describe", "test.skip('describe"));
    sh(r.repo, 'add', '-A');
    sh(r.repo, 'commit', '-q', '-m', 'bad');
    const diffText = sh(r.repo, 'diff', 'main', 'human/bad');
    sh(r.repo, 'checkout', '-q', 'main');
    const bad = dancer(r.root, 'policy', 'check', 'human/bad', '--base', 'main');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('protected_path  .gitlab-ci.yml is protected (matches ".gitlab-ci.yml")');
    expect(bad.stdout).toMatch(/skipped_test {2}test\/cart\.test\.mjs:\d+: skips or narrows tests/);
    const file = path.join(r.root, 'bad.diff');
    writeFileSync(file, `${diffText}\n`);
    const fromFile = JSON.parse(dancer(r.root, 'policy', 'check', file, '--json').stdout);
    expect(fromFile.violations.map((v: { rule: string }) => v.rule).sort()).toEqual(['protected_path', 'skipped_test']);
    expect(dancer(r.root, 'policy', 'check', 'no-such-branch').code).toBe(2);
  });
});

describe('dancer changelog', () => {
  it('lists every fix and rollback in time order with status, rate and cost', () => {
    const out = dancer(r.root, 'changelog', '--output', 'CHANGELOG.md');
    expect(out.code).toBe(0);
    const md = readFileSync(path.join(r.root, 'CHANGELOG.md'), 'utf8');
    const order = [...md.matchAll(/^### \d\d:\d\d · (Fix|Rollback) (\d+)/gm)].map((m) => Number(m[2]));
    expect(order).toEqual([
      ids.deployed,
      ids.broken,
      ids.weak,
      ids.toReject,
      ids.toApprove,
      ids.rolledBack,
      ids.rolledBack,
    ]);
    expect(md).toMatch(/### \d\d:\d\d · Rollback \d+: Rolled back fix \d+: Log the request body size/);
    expect(md).toContain('- Status: rolled back by dancer (supervisor): memory grew 40% over baseline');
    expect(md).toContain('- Pattern rate: 5/min in the 60 min before, 0/min after');
    expect(md).toMatch(/- Git: branch `dancer\/rollback-\d{8}-\d{4}`, merge `[0-9a-f]{12}`/);
    expect(md).toContain('## 2026-11-20');
    expect(md).toContain('- Status: deployed (approved by alice)');
    expect(md).toMatch(/- Status: failed at typecheck: step typecheck exited with status \d+ \(.*TS2322/);
    expect(md).toMatch(
      /- Status: failed at regression:base: the regression test test\/cart-weak.test.mjs already passes on the base commit [0-9a-f]{12}, so it does not reproduce the bug; write a test that fails without the fix\n/,
    );
    expect(md).toContain('- What changed: Log the request body size when a total fails (1 file, 2 lines, risk low)');
    expect(md).toContain('- Why: Missing from the logs: the cart size');
    expect(md).toContain('- Status: rejected by bob: wrong layer');
    expect(md).toContain('- Status: approved');
    expect(md).toContain('- Cost: $0.0421');
    expect(md).toContain('- Pattern 7: `total failed <*>`');
    const json = JSON.parse(dancer(r.root, 'changelog', '--json').stdout);
    expect(json).toHaveLength(7);
    const since = JSON.parse(dancer(r.root, 'changelog', '--json', '--since', '2026-11-20T09:03:00Z').stdout);
    expect(since.length).toBeLessThan(7);
    expect(dancer(r.root, 'changelog', '--since', 'yesterday-ish').code).toBe(2);
  });

  it('without the database, lists the fix branches and merges from git and their trailers', () => {
    const out = dancer(r.root, 'changelog', '--json', '--db', path.join(r.root, 'elsewhere.db'));
    expect(out.code).toBe(0);
    expect(out.stderr).toContain('the changelog comes from git alone');
    const items = JSON.parse(out.stdout) as { type: string; fixId: number; status: string; ts: number }[];
    const fixIds = [...new Set(items.filter((i) => i.type === 'fix').map((i) => i.fixId))].sort();
    expect(fixIds).toEqual([ids.deployed, ids.broken, ids.weak, ids.toReject, ids.toApprove, ids.rolledBack].sort());
    expect(items.some((i) => i.type === 'rollback' && i.fixId === ids.rolledBack)).toBe(true);
    const ts = items.map((i) => i.ts);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
  });
});
