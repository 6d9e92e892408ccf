/**
 * The package as users get it: `npm pack`, the tarball installed into a fresh project, and the
 * README's "Use Dancer in your own project" blocks run there as written.
 *
 * The install is a real `npm install <tarball>`, as the README writes it, with `--prefer-offline`:
 * npm takes every dependency tarball from its cache (`npm ci` filled ~/.npm/_cacache) and asks the
 * registry only for what the cache lacks. `--offline` alone cannot work: a tarball carries no
 * lockfile, so npm must resolve Dancer's dependency ranges from registry metadata (packuments),
 * which `npm ci` never fetches (it installs from package-lock.json). The one install script in the
 * tree, better-sqlite3's (`prebuild-install || node-gyp rebuild`), runs for real; it is pointed at
 * a local prebuild (the binary this checkout's install produced for this Node) instead of GitHub,
 * so the test does not spend minutes compiling SQLite.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/traffic.js';
import { killAll, strayProcesses } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The fenced code blocks of a Markdown text, with their language. */
function codeBlocks(markdown: string): Array<{ lang: string; code: string }> {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] ?? '', code: m[2] ?? '' }));
}

/** The README section that tells users how to install Dancer into their own project. */
function ownProjectSection(): string {
  const start = README.indexOf('## Use Dancer in your own project');
  expect(start).toBeGreaterThan(-1);
  const end = README.indexOf('\n## ', start + 5);
  return README.slice(start, end === -1 ? undefined : end);
}

let work: string;
let tarball: string;
let project: string;
const env = { ...process.env, NO_COLOR: '1', npm_config_offline: 'true', npm_config_loglevel: 'warn' };

function sh(command: string, cwd = project) {
  const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'dancer-pack-'));
  const packed = spawnSync('npm', ['pack', '--pack-destination', work, '--loglevel=warn'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(packed.status, packed.stderr).toBe(0);
  tarball = path.join(work, packed.stdout.trim().split('\n').pop() as string);
  project = path.join(work, 'myapp');
  mkdirSync(project);
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'myapp', version: '3.4.5', main: 'server.js' }),
  );
  writeFileSync(
    path.join(project, 'server.js'),
    "require('node:http').createServer((q, s) => { console.log('served ' + q.url); s.end('ok'); }).listen(process.env.PORT || 3000, '127.0.0.1', () => console.log('listening'));\n",
  );
}, 120_000);

afterAll(async () => {
  if (!work) return;
  killAll(await strayProcesses(work, 10_000));
  rmSync(work, { recursive: true, force: true });
}, 120_000);

/** The README's `npm install /path/to/dancer-0.1.0.tgz`, run for real (see the file comment). */
function installTarball(): void {
  const sqlite = path.join(ROOT, 'node_modules/better-sqlite3');
  const { version } = JSON.parse(readFileSync(path.join(sqlite, 'package.json'), 'utf8')) as { version: string };
  const prebuilds = path.join(work, 'prebuilds');
  mkdirSync(path.join(prebuilds, 'build/Release'), { recursive: true });
  copyFileSync(
    path.join(sqlite, 'build/Release/better_sqlite3.node'),
    path.join(prebuilds, 'build/Release/better_sqlite3.node'),
  );
  // prebuild-install's file name: {name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz
  const asset = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  expect(sh(`tar -czf ${asset} build`, prebuilds).code).toBe(0);
  rmSync(path.join(prebuilds, 'build'), { recursive: true });
  const { npm_config_offline: _offline, ...online } = env;
  const r = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: project,
    encoding: 'utf8',
    env: { ...online, npm_config_better_sqlite3_local_prebuilds: prebuilds },
    timeout: 480_000,
  });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  // What npm did, not what we did: the package, its bin link, and the native addon it installed.
  const lock = JSON.parse(readFileSync(path.join(project, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; resolved?: string }>;
  };
  expect(lock.packages['node_modules/dancer']).toMatchObject({ version: '0.1.0' });
  expect(lock.packages['node_modules/better-sqlite3']?.version).toBe(version);
  expect(existsSync(path.join(project, 'node_modules/.bin/dancer'))).toBe(true);
  expect(existsSync(path.join(project, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
}

describe('the packed package in a fresh project', { timeout: 600_000 }, () => {
  it('holds dist, bin and docs, and no tests or sources', () => {
    const list = sh(`tar -tzf ${JSON.stringify(tarball)}`).stdout.split('\n');
    expect(list).toContain('package/dist/index.js');
    expect(list).toContain('package/dist/index.d.ts');
    expect(list).toContain('package/bin/dancer.js');
    expect(list).toContain('package/docs/api.md');
    expect(list.some((f) => f.startsWith('package/test/') || f.startsWith('package/src/'))).toBe(false);
  });

  it("runs the README's install block as written, then import('dancer') and every subpath export", async () => {
    const blocks = codeBlocks(ownProjectSection());
    const install = blocks.find((b) => b.lang === 'sh' && b.code.includes("# in your service's folder"));
    expect(install).toBeDefined();
    let running: ChildProcess | undefined;
    try {
      for (const raw of install!.code.split('\n')) {
        const line = raw.replace(/\s+#.*$/, '').trim();
        if (line === '' || line.startsWith('#')) continue;
        if (line.startsWith('npm install ')) {
          expect(line).toBe(`npm install /path/to/${path.basename(tarball)}`);
          installTarball();
          continue;
        }
        if (line === 'npx dancer run') {
          // The port the service was given by `init --yes`. The 10 s serve time is first-contact.test.ts's
          // criterion (dancer's bin, no npx); here `npx` alone takes seconds on a loaded machine.
          const yaml = readFileSync(path.join(project, 'dancer.yaml'), 'utf8');
          const port = Number(/port: (\d+)/.exec(yaml)?.[1]);
          running = spawn('sh', ['-c', line], {
            cwd: project,
            env,
            stdio: ['ignore', 'ignore', 'pipe'],
            detached: true,
          });
          let runErr = '';
          running.stderr!.on('data', (d: Buffer) => {
            runErr += d.toString();
          });
          const deadline = Date.now() + 30_000;
          let status: number | undefined;
          while (Date.now() < deadline && status !== 200) {
            status = await fetch(`http://127.0.0.1:${port}/hello`)
              .then((r) => r.status)
              .catch(() => undefined);
            if (status !== 200) await new Promise((r) => setTimeout(r, 200));
          }
          expect(status, runErr).toBe(200);
          continue;
        }
        const r = sh(line);
        expect({ line, code: r.code, stderr: r.stderr }).toMatchObject({ line, code: 0 });
        if (line === 'npx dancer --version') expect(r.stdout.trim()).toBe('0.1.0');
        if (line === 'npx dancer init --yes') {
          // A port of our choosing, so parallel runs do not collide (the service reads PORT).
          const file = path.join(project, 'dancer.yaml');
          const port = await freePort();
          writeFileSync(file, readFileSync(file, 'utf8').replace(/port: 3000/g, `port: ${port}`));
        }
      }
      // The README's script block, run in the project against the store `dancer run` filled.
      const script = blocks.find((b) => b.lang === 'js');
      expect(script).toBeDefined();
      writeFileSync(path.join(project, 'readme-script.mjs'), script!.code);
      const ran = await (async () => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const r = sh('node readme-script.mjs');
          if ((r.code === 0 && r.stdout.includes('listening')) || Date.now() > deadline) return r;
          await new Promise((res) => setTimeout(res, 300));
        }
      })();
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stdout).toMatch(/30 listening/);
    } finally {
      if (running?.pid) {
        process.kill(-running.pid, 'SIGTERM');
        await new Promise((r) => running!.once('exit', r));
      }
    }

    const imports = sh(`node --input-type=module -e "
      const root = await import('dancer');
      for (const name of ['loadConfig', 'openStore', 'searchLogs', 'searchLogsLenient', 'TemplateMiner', 'runService', 'Supervisor', 'pruneLogs', 'DancerError'])
        if (typeof root[name] !== 'function') throw new Error('dancer.' + name + ' missing');
      const miner = new root.TemplateMiner();
      miner.add('user 1 logged in'); const r = miner.add('user 2 logged in');
      if (!String(r.template ?? r.text ?? JSON.stringify(r)).includes('<')) throw new Error('no template: ' + JSON.stringify(r));
      for (const sub of ['dancer/pino', 'dancer/context', 'dancer/listen', 'dancer/testing']) await import(sub);
      const { startModelServer } = await import('dancer/testing');
      if (typeof startModelServer !== 'function') throw new Error('dancer/testing');
      const { listen } = await import('dancer/listen');
      if (typeof listen !== 'function') throw new Error('dancer/listen');
      const pkg = await import('dancer/package.json', { with: { type: 'json' } });
      console.log('ok', pkg.default.name, pkg.default.version);
    "`);
    expect(imports.code, imports.stderr).toBe(0);
    expect(imports.stdout.trim()).toBe('ok dancer 0.1.0');
  });

  it("the installed dancer/pino transport stores a pino service's calls, and the installed bin lists their patterns", () => {
    // pino is one of Dancer's dependencies, so npm hoisted it next to dancer in the project.
    writeFileSync(
      path.join(project, 'pino-app.mjs'),
      `import pino from 'pino';
const log = pino({ transport: { targets: [{ target: 'dancer/pino', options: { db: 'pino.db' } }] } });
for (let i = 1; i <= 6; i++) log.info({ i }, 'payment ' + i + ' accepted');
log.error({ err: new Error('card declined') }, 'payment failed');
log.flush();
`,
    );
    const ran = sh('node pino-app.mjs');
    expect(ran.code, ran.stderr).toBe(0);
    const found = sh('npx dancer logs search accepted --db pino.db --json');
    expect(found.code, found.stderr).toBe(0);
    const messages = found.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { message: string }).message)
      .sort();
    expect(messages).toEqual([1, 2, 3, 4, 5, 6].map((i) => `payment ${i} accepted`));
    const patterns = sh('npx dancer patterns --db pino.db --json');
    expect(patterns.code, patterns.stderr).toBe(0);
    const list = JSON.parse(patterns.stdout) as Array<{ template: string; count: number }>;
    expect(list.find((p) => p.template === 'payment <*> accepted')?.count).toBe(6);
    expect(list.some((p) => /payment failed/.test(p.template))).toBe(true);
  });

  it('is typed: a TypeScript file using the root and subpath exports typechecks', () => {
    writeFileSync(
      path.join(project, 'check.ts'),
      `import { loadConfig, openStore, searchLogsLenient, type LogRecord, type StoredLog, DancerError } from 'dancer';
import { listen } from 'dancer/listen';
import { startModelServer } from 'dancer/testing';
const loaded = loadConfig();
const db = openStore(loaded.resolve(loaded.config.store.path), { readonly: true });
const found: StoredLog[] = searchLogsLenient(db, 'x').logs;
const r: LogRecord = { ts: 1, level: 30, message: 'm' };
const e: DancerError | undefined = undefined;
void [found, r, e, listen, startModelServer];
// @ts-expect-error: the config is typed
loaded.config.store.nope;
`,
    );
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          // @types/node is the user's own dev dependency, not Dancer's: this checkout's.
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
        },
        files: ['check.ts'],
      }),
    );
    const r = sh(`${JSON.stringify(path.join(ROOT, 'node_modules/.bin/tsc'))} -p tsconfig.json`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
