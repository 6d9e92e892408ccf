/**
 * The gate's install step and the network: off by default, so an install that needs to download
 * (a lockfile change under policy.allowDependencies) fails with DANCER_INSTALL_NETWORK_OFF and
 * says what to set; with fixes.sandbox.installNetwork: true the install step (and no other step)
 * reaches the network. Real gate, real bubblewrap, a real listener on 127.0.0.1 standing for the
 * registry, and a real `npm ci` against a lockfile.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate } from '../../src/fixes/gate.js';
import { createWorktree } from '../../src/fixes/repo.js';
import { makeServiceRepo, sh, testFixesConfig } from './helpers.js';

let registry: net.Server;
let hits = 0;
beforeAll(async () => {
  registry = net.createServer((s) => {
    hits++;
    s.end();
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
});
afterAll(() => registry?.close());

/** A command that succeeds only when it can connect to the stand-in registry. */
const reach = (port: number) =>
  `${process.execPath} -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', (e) => { console.error(e.code); process.exit(1); })"`;

async function gateWith(installNetwork: boolean, run: string, stepRun = 'true') {
  const r = makeServiceRepo();
  writeFileSync(
    path.join(r.repo, 'package.json'),
    JSON.stringify({ name: 't', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } }),
  );
  writeFileSync(
    path.join(r.repo, 'package-lock.json'),
    JSON.stringify({
      name: 't',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': { name: 't', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } },
        'node_modules/left-pad': {
          version: '1.3.0',
          resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
          integrity: 'sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQEkJbkJq4DbGQ9Y1P+4iWqOyoCp1JKkA5m3SNE3gs0uY/ZA==',
        },
      },
    }),
  );
  sh(r.repo, 'add', '-A');
  sh(r.repo, 'commit', '-q', '-m', 'deps');
  const base = sh(r.repo, 'rev-parse', 'HEAD');
  const dir = path.join(r.worktreeBase, 'fix');
  await createWorktree(r.repo, { branch: 'dancer/fix-net', dir, base });
  return runGate({
    repo: r.repo,
    worktree: dir,
    baseCommit: base,
    changedFiles: ['package-lock.json'],
    regressionTests: [],
    requireRegression: false,
    config: testFixesConfig({
      gate: { install: { run, timeoutSeconds: 240 }, steps: [{ name: 'later', run: stepRun }], stepTimeoutSeconds: 30 },
      sandbox: { installNetwork },
    }),
  });
}

describe('the install step and the network', () => {
  it('off by default: an install that must download fails with DANCER_INSTALL_NETWORK_OFF, naming the setting', async () => {
    const port = (registry.address() as net.AddressInfo).port;
    const before = hits;
    const result = await gateWith(false, reach(port));
    expect(result).toMatchObject({ ok: false, failedStep: 'install', code: 'DANCER_INSTALL_NETWORK_OFF' });
    expect(result.reason).toContain('fixes.sandbox.installNetwork: true');
    expect(result.reason).toContain('changes a lockfile');
    expect(hits).toBe(before);
  });

  it('a real npm ci of a changed lockfile without network says the same', async () => {
    const result = await gateWith(false, 'npm ci --no-audit --no-fund --fetch-retries=0');
    expect(result).toMatchObject({ ok: false, failedStep: 'install', code: 'DANCER_INSTALL_NETWORK_OFF' });
    expect(result.steps[0]?.outputTail).toMatch(/EAI_AGAIN|ENOTFOUND|ENETUNREACH|network/i);
  }, 300_000);

  it('installNetwork: true lets the install step, and only it, reach the network', async () => {
    const port = (registry.address() as net.AddressInfo).port;
    const before = hits;
    const result = await gateWith(true, reach(port), reach(port));
    expect(result.steps.map((s) => [s.name, s.ok])).toEqual([
      ['install', true],
      ['later', false],
    ]);
    expect(result.code).toBeUndefined();
    expect(hits).toBe(before + 1);
  });
});
