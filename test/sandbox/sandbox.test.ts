import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixesSchema } from '../../src/config/schema/fixes.js';
import { isDancerError } from '../../src/errors.js';
import { runProcess } from '../../src/process/index.js';
import {
  bwrapArgv,
  chownTree,
  describeContainment,
  findUser,
  resolveSandbox,
  type SandboxHost,
  sandboxEnv,
} from '../../src/sandbox/index.js';

const defaults = fixesSchema.parse({}).sandbox;
const limits = { cpuSeconds: 10, memoryMb: 512, processes: 32, fileSizeMb: 8 };
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const host = (uid: number, has: string[] = ['bwrap', 'setpriv', 'prlimit']): SandboxHost => ({
  uid,
  env: { PATH: '/usr/bin:/bin', HOME: '/root', ANTHROPIC_API_KEY: 'sk-secret', LANG: 'C.UTF-8', KEEP: 'kept' },
  which: (n) => (has.includes(n) ? `/usr/bin/${n}` : undefined),
  passwdFile: '/etc/passwd',
});

describe('bwrapArgv (pure)', () => {
  const plan = {
    cwd: '/tmp/a/wt',
    writable: ['/tmp/a/wt'],
    readOnly: [],
    hideDirs: ['/srv/repo/.git', '/tmp/a'],
    hideFiles: ['/tmp/a/wt/.git'],
    overlays: [{ source: '/tmp/def/package.json', target: '/tmp/a/wt/package.json' }],
    network: false,
  };
  it('as root: mounts as root, runs the command as the user with limits and no network', () => {
    const argv = bwrapArgv({
      bwrap: '/usr/bin/bwrap',
      user: { name: 'nobody', uid: 65534, gid: 65534 },
      limits,
      env: { PATH: '/usr/bin' },
      plan,
      command: ['/bin/sh', '-c', 'npm test'],
    });
    const s = argv.join(' ');
    expect(argv[0]).toBe('/usr/bin/bwrap');
    expect(s).toContain('--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp');
    expect(s).toContain('--unshare-net');
    expect(s).not.toContain('--unshare-user');
    expect(s).toContain('--die-with-parent');
    expect(s).toContain('setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --');
    expect(s).toContain(
      `prlimit --cpu=10 --data=${512 * 1024 * 1024} --nproc=32 --fsize=${8 * 1024 * 1024} --core=0 -- /bin/sh -c npm test`,
    );
    // Parents before children: the hidden /tmp/a tmpfs, then the worktree inside it, then its .git.
    const at = (x: string) => argv.findIndex((a, i) => a === x && argv[i - 1] !== '--perms');
    expect(argv.indexOf('/tmp/a')).toBeLessThan(argv.indexOf('/tmp/a/wt'));
    expect(argv.lastIndexOf('/tmp/a/wt/.git')).toBeGreaterThan(argv.indexOf('/tmp/a/wt'));
    expect(at('--clearenv')).toBeGreaterThan(0);
    // The overlay comes last so it sits on top of the writable worktree.
    expect(argv.indexOf('/tmp/a/wt/package.json')).toBeGreaterThan(argv.lastIndexOf('/tmp/a/wt/.git'));
  });
  it('not root: a user namespace, no setpriv; network only when asked', () => {
    const argv = bwrapArgv({
      bwrap: 'bwrap',
      user: null,
      limits,
      env: {},
      plan: { ...plan, network: true },
      command: ['true'],
    });
    expect(argv).toContain('--unshare-user');
    expect(argv).not.toContain('setpriv');
    expect(argv).not.toContain('--unshare-net');
  });
});

describe('sandbox user and environment', () => {
  const passwd =
    'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\ndancer-sb:x:990:985::/:/bin/false\n';
  it('finds users by name or uid and refuses unknown ones', () => {
    expect(findUser('nobody', passwd)).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(findUser('990', passwd)).toEqual({ name: 'dancer-sb', uid: 990, gid: 985 });
    expect(findUser('1234:1235', passwd)).toEqual({ name: '1234', uid: 1234, gid: 1235 });
    expect(findUser('ghost', passwd)).toBeUndefined();
  });
  it('scrubs the environment to PATH, private HOME/TMPDIR, locale and what the config passes', () => {
    const env = sandboxEnv(host(0).env, { passEnv: ['KEEP'], env: { NODE_ENV: 'test' } });
    expect(env).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/tmp',
      TMPDIR: '/tmp',
      CI: '1',
      LANG: 'C.UTF-8',
      KEEP: 'kept',
      NODE_ENV: 'test',
    });
  });
  it('refuses without bubblewrap unless the config says none, which is described as no sandbox', () => {
    let error: unknown;
    try {
      resolveSandbox({ config: defaults, hide: [], host: host(0, ['setpriv', 'prlimit']) });
    } catch (e) {
      error = e;
    }
    expect(isDancerError(error, 'DANCER_SANDBOX_UNAVAILABLE')).toBe(true);
    const none = resolveSandbox({ config: 'none', hide: [], host: host(0, []) });
    expect(none.kind).toBe('none');
    expect(none.describe()).toMatch(/NO SANDBOX.*uid 0 \(root\)/);
    expect(describeContainment(defaults, host(0, [])).gate).toMatch(/^REFUSED: bubblewrap/);
    expect(describeContainment(defaults, host(0)).gate).toMatch(/uid 65534 \(nobody\)/);
    expect(describeContainment(defaults, host(0)).service).toMatch(/uid 0 \(root\)/);
  });
  it('refuses root as the sandbox user', () => {
    let error: unknown;
    try {
      resolveSandbox({
        config: { ...(defaults as Exclude<typeof defaults, 'none'>), user: 'root' },
        hide: [],
        host: host(0),
      });
    } catch (e) {
      error = e;
    }
    expect(isDancerError(error, 'DANCER_SANDBOX_UNAVAILABLE')).toBe(true);
  });
});

describe.runIf(process.getuid?.() === 0)('a real sandboxed run (root)', () => {
  it('lends the worktree to the sandbox user and takes it back', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'dancer-sbx-'));
    dirs.push(root);
    const wt = path.join(root, 'wt');
    mkdirSync(path.join(wt, 'sub'), { recursive: true });
    writeFileSync(path.join(wt, 'sub/f.txt'), 'x');
    const sandbox = resolveSandbox({ config: defaults, hide: [] });
    const giveBack = sandbox.lend([wt]);
    expect(statSync(path.join(wt, 'sub/f.txt')).uid).toBe(65534);
    const cmd = sandbox.command(['/bin/sh', '-c', 'id -u; echo made > sub/new.txt; echo $ANTHROPIC_API_KEY'], {
      cwd: wt,
      writable: [wt],
    });
    process.env.ANTHROPIC_API_KEY = 'sk-ant-should-not-pass';
    const r = await runProcess(cmd.file, cmd.args, { cwd: wt, env: cmd.env, timeoutMs: 30_000 });
    delete process.env.ANTHROPIC_API_KEY;
    giveBack();
    expect(r.stdout).toBe('65534\n\n');
    expect(statSync(path.join(wt, 'sub/new.txt')).uid).toBe(0);
    expect(chownTree(wt, 0, 0)).toBe(4);
  });

  it('runs an ordinary Node test that serves and fetches on loopback under the memory limit', async () => {
    // fetch's HTTP parser is WebAssembly, for which V8 reserves address space it never uses: an
    // address-space limit (RLIMIT_AS) broke it, the data limit does not, and still bites.
    const wt = mkdtempSync(path.join(tmpdir(), 'dancer-sbx-'));
    dirs.push(wt);
    writeFileSync(
      path.join(wt, 'f.mjs'),
      `import http from 'node:http';
const s = http.createServer((q, r) => r.end('pong')).listen(0, '127.0.0.1', async () => {
  const r = await fetch('http://127.0.0.1:' + s.address().port + '/');
  console.log('fetched ' + (await r.text()));
  try { const kept = []; for (let i = 0; i < 64; i++) kept.push(Buffer.alloc(64 * 1024 * 1024, 1)); console.log('allocated 4 GiB'); }
  catch (e) { console.log('refused: ' + e.message); }
  process.exit(0);
});
`,
    );
    const sandbox = resolveSandbox({
      config: fixesSchema.parse({ sandbox: { limits: { memoryMb: 1024 } } }).sandbox,
      hide: [],
    });
    const giveBack = sandbox.lend([wt]);
    const cmd = sandbox.command([process.execPath, 'f.mjs'], { cwd: wt, writable: [wt] });
    const r = await runProcess(cmd.file, cmd.args, { cwd: wt, env: cmd.env, timeoutMs: 30_000 });
    giveBack();
    expect(r.stdout).toContain('fetched pong');
    expect(r.stdout).toMatch(/refused: Array buffer allocation failed/);
  });
});
