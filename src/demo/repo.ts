/**
 * The demo's service repository: a copy of `examples/checkout` in a temp folder, made a git
 * repository, with its dependencies linked from Dancer's own install (no network, no npm install)
 * and a `dancer.yaml` tuned for a one-minute demo.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { DancerError } from '../errors.js';
import { gitSync } from '../process/index.js';

/** Options of {@link prepareDemoRepo}. */
export interface DemoRepoOptions {
  /** Folder to create the repository in (its `checkout` subfolder). */
  root: string;
  /** Dancer's package root (for examples/ and node_modules/). */
  dancerRoot: string;
  /** The port the service listens on. */
  port: number;
  /** Observation window after a deploy, seconds. */
  windowSeconds: number;
  /** Scripted model server URL, or undefined for real Claude. */
  modelBaseUrl: string | undefined;
  /** Zulip settings, when the demo runs with `--zulip`. */
  zulip?: { site: string; email: string; apiKeyEnv: string; stream: string; allow: string[] } | undefined;
}

/** The prepared repository. */
export interface DemoRepo {
  repo: string;
  configFile: string;
  dbPath: string;
}

/** The demo's `dancer.yaml`, as an object (pure). */
export function demoConfig(options: Pick<DemoRepoOptions, 'port' | 'windowSeconds' | 'modelBaseUrl' | 'zulip'>) {
  return {
    service: {
      name: 'checkout',
      start: 'node dist/src/server.js',
      cwd: '.',
      env: { NODE_ENV: 'production' },
      listen: [{ name: 'http', port: options.port, host: '127.0.0.1' }],
      readiness: { http: { path: '/healthz', port: options.port }, timeoutSeconds: 20 },
      drainSeconds: 5,
      build: 'npm run build',
      // Releases stay inside the demo's folder (as root the default is /var/dancer/<service>,
      // shared by every run on the host and linked to the node_modules of the run that built it).
      releasesDir: '.dancer/releases',
      observe: {
        windowSeconds: options.windowSeconds,
        baselineSeconds: 60,
        checkEverySeconds: 1,
        minRecords: 10,
        minErrors: 5,
        newPatternMin: 5,
        maxExtensions: 1,
      },
    },
    store: { path: '.dancer/dancer.db', batch: { maxDelayMs: 100 } },
    capture: { tee: 'none' },
    patterns: {
      triggers: {
        newPattern: { minCount: 10, windowMinutes: 5 },
        review: { enabled: false },
        spike: { enabled: false },
      },
    },
    consult: {
      model: options.modelBaseUrl ? 'claude-sonnet-4-5' : 'sonnet',
      ...(options.modelBaseUrl ? { baseUrl: options.modelBaseUrl } : {}),
      routine: { maxTurns: 20, timeoutSeconds: 300 },
      urgent: { maxTurns: 30, timeoutSeconds: 600 },
    },
    fixes: {
      worktreeBase: '.dancer/worktrees',
      gate: {
        steps: [
          { name: 'build', run: 'npm run build' },
          { name: 'test', run: 'npm test' },
        ],
        stepTimeoutSeconds: 120,
        regression: { command: 'sh scripts/regression.sh {file}', timeoutSeconds: 120 },
      },
    },
    policy: { autoApprove: options.zulip ? 'none' : 'low', maxFiles: 5, maxLines: 120 },
    ...(options.zulip ? { notify: { zulip: options.zulip } } : {}),
  };
}

function git(repo: string, args: string[]): string {
  return gitSync(repo, args, {
    env: {
      GIT_AUTHOR_NAME: 'Demo Developer',
      GIT_AUTHOR_EMAIL: 'dev@example.invalid',
      GIT_COMMITTER_NAME: 'Demo Developer',
      GIT_COMMITTER_EMAIL: 'dev@example.invalid',
    },
  }).stdout.trim();
}

/**
 * Link every package Dancer has installed into `<repo>/node_modules` (plus `dancer` itself, for
 * `dancer/listen`), so the service, its fix worktrees and its release folders (all below the
 * repository) resolve their dependencies without an install.
 */
function linkDependencies(repo: string, dancerRoot: string): void {
  const source = path.join(dancerRoot, 'node_modules');
  if (!existsSync(source)) {
    throw new DancerError('DANCER_USAGE', `Dancer's dependencies are not installed (${source}): run npm ci first.`);
  }
  const target = path.join(repo, 'node_modules');
  mkdirSync(target, { recursive: true });
  for (const entry of readdirSync(source)) {
    if (entry === '.bin' || entry === '.package-lock.json') continue;
    symlinkSync(path.join(source, entry), path.join(target, entry));
  }
  symlinkSync(path.join(source, '.bin'), path.join(target, '.bin'));
  symlinkSync(dancerRoot, path.join(target, 'dancer'));
}

/** Copy the checkout example, link its dependencies, commit it, and build it once. */
export function prepareDemoRepo(options: DemoRepoOptions): DemoRepo {
  const example = path.join(options.dancerRoot, 'examples', 'checkout');
  const repo = path.join(options.root, 'checkout');
  cpSync(example, repo, {
    recursive: true,
    filter: (src) => !/[/\\](node_modules|dist|\.dancer)([/\\]|$)/.test(path.relative(example, src) ? src : ''),
  });
  const configFile = path.join(repo, 'dancer.yaml');
  writeFileSync(
    configFile,
    `# The self-healing demo's configuration (written by npm run demo).\n${stringify(demoConfig(options))}`,
  );
  linkDependencies(repo, options.dancerRoot);
  git(repo, ['init', '-q', '-b', 'main']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', 'checkout service: first version']);
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: repo, stdio: 'ignore' });
  return { repo, configFile, dbPath: path.join(repo, '.dancer', 'dancer.db') };
}
