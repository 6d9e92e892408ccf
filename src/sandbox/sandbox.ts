/**
 * The sandbox everything the model wrote or chose runs in: gate steps, the agent's Bash commands
 * and any tool process. {@link resolveSandbox} turns `fixes.sandbox` into a {@link Sandbox}
 * (bubblewrap, or `none` when the config says so), refusing when bubblewrap is missing;
 * {@link Sandbox.command} wraps one command.
 */
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { SandboxConfig } from '../config/index.js';
import { DancerError } from '../errors.js';
import { bwrapArgv, type MountPlan, type SandboxLimits, type SandboxUser } from './bwrap.js';
import { lendTrees, resolveUser } from './user.js';

/** What one sandboxed run may see and touch, beyond the sandbox's own hidden paths. */
export interface RunPlan {
  cwd: string;
  /** Folders writable in the run (the worktree). Their `.git` file or folder is hidden. */
  writable: readonly string[];
  /** Folders to keep visible read-only even when they live under a hidden place or /tmp. */
  readOnly?: readonly string[] | undefined;
  /** Extra paths to hide in this run. */
  hide?: readonly string[] | undefined;
  /** Files bound read-only over others (the base commit's gate definition). */
  overlays?: ReadonlyArray<{ source: string; target: string }> | undefined;
  /** Allow the network (only the install step may, and only when configured). */
  network?: boolean | undefined;
  /** Extra environment for this run (after the scrub). */
  env?: Record<string, string> | undefined;
}

/** A command ready for {@link runProcess}: argv and the whole environment. */
export interface WrappedCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** A resolved sandbox. */
export interface Sandbox {
  readonly kind: 'bwrap' | 'none';
  /** The bubblewrap executable (null without a sandbox); Claude Code's network namespace uses it too. */
  readonly bwrap: string | null;
  /** The account sandboxed code runs as (null: Dancer's own uid). */
  readonly user: SandboxUser | null;
  readonly limits: SandboxLimits | null;
  /** Whether the install step may use the network. */
  readonly installNetwork: boolean;
  /** One line for `dancer status`, `dancer run` and the docs. */
  describe(): string;
  /** Wrap `argv` to run sandboxed according to `plan`. */
  command(argv: readonly string[], plan: RunPlan): WrappedCommand;
  /** Hand `dirs` to the sandbox user for a run; call the result to take them back. */
  lend(dirs: readonly string[]): () => void;
}

/** Facts about the machine, injectable for tests. */
export interface SandboxHost {
  uid: number;
  env: NodeJS.ProcessEnv;
  /** Find an executable on PATH (or check an absolute path); undefined when missing. */
  which: (name: string) => string | undefined;
  passwdFile?: string | undefined;
}

/** Inputs of {@link resolveSandbox}. */
export interface ResolveSandboxInput {
  config: SandboxConfig;
  /** Dancer's own paths no sandboxed run may see: store files, state folder, the repository's .git, worktree base. */
  hide: readonly string[];
  host?: SandboxHost | undefined;
}

/** Find `name` on `PATH`. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = name.includes('/') ? [name] : (env.PATH ?? '').split(':').map((d) => path.join(d || '.', name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      // Not here; try the next folder.
    }
  }
  return undefined;
}

function defaultHost(): SandboxHost {
  return { uid: process.getuid?.() ?? 1000, env: process.env, which: (n) => which(n) };
}

/** Variables copied into every sandbox when Dancer has them (locale only; never credentials). */
const LOCALE = ['LANG', 'LC_ALL', 'TZ'];

/** The scrubbed environment of a sandboxed run. Pure. */
export function sandboxEnv(
  current: NodeJS.ProcessEnv,
  config: { passEnv: readonly string[]; env: Record<string, string> } | null,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: current.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    CI: current.CI ?? '1',
  };
  for (const name of [...LOCALE, ...(config?.passEnv ?? [])]) {
    const v = current[name];
    if (v !== undefined) env[name] = v;
  }
  return { ...env, ...config?.env, ...extra };
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Split existing `paths` into folders and files; missing ones need no hiding. */
function existing(paths: readonly string[]): { dirs: string[]; files: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  for (const p of new Set(paths.map(real))) {
    try {
      (statSync(p).isDirectory() ? dirs : files).push(p);
    } catch {
      // Nothing there: nothing to hide.
    }
  }
  return { dirs, files };
}

/**
 * Resolve `fixes.sandbox`.
 *
 * @throws {DancerError} `DANCER_SANDBOX_UNAVAILABLE` when bubblewrap (or setpriv/prlimit, or the
 * sandbox user when Dancer is root) is missing and the config does not say `none`.
 */
export function resolveSandbox(input: ResolveSandboxInput): Sandbox {
  const host = input.host ?? defaultHost();
  const config = input.config;
  if (config === 'none') {
    return {
      kind: 'none',
      bwrap: null,
      user: null,
      limits: null,
      installNetwork: true,
      describe: () =>
        `NO SANDBOX (fixes.sandbox: none): model-written code runs as uid ${host.uid}${host.uid === 0 ? ' (root)' : ''} with the network`,
      command: (argv, plan) => ({
        file: argv[0] as string,
        args: argv.slice(1),
        env: sandboxEnv(host.env, null, {
          ...plan.env,
          HOME: host.env.HOME ?? '/tmp',
          TMPDIR: host.env.TMPDIR ?? '/tmp',
        }),
      }),
      lend: () => () => {},
    };
  }
  const missing = (what: string) =>
    new DancerError(
      'DANCER_SANDBOX_UNAVAILABLE',
      `${what} is not installed, so model-written code cannot be sandboxed: install it (apt-get install bubblewrap util-linux) or set fixes.sandbox: none to run the gate without a sandbox`,
      { details: { missing: what } },
    );
  const bwrap = host.which(config.bwrap ?? 'bwrap');
  if (!bwrap) throw missing('bubblewrap (bwrap)');
  for (const tool of ['setpriv', 'prlimit']) if (!host.which(tool)) throw missing(tool);
  const user = host.uid === 0 ? resolveUser(config.user ?? 'nobody', host.passwdFile) : null;
  const limits = config.limits;
  const home = host.env.HOME ?? homedir();
  const baseHide = [...input.hide, ...(home && home !== '/' ? [home] : [])];
  return {
    kind: 'bwrap',
    bwrap,
    user,
    limits,
    installNetwork: config.installNetwork,
    describe: () =>
      `bubblewrap, ${user ? `uid ${user.uid} (${user.name})` : `uid ${host.uid} (Dancer's own; Dancer is not root)`}, read-only system, no network, cpu ${limits.cpuSeconds} s, memory ${limits.memoryMb} MiB, ${limits.processes} processes`,
    command: (argv, plan) => {
      const writable = plan.writable.map(real);
      const hidden = existing([...baseHide, ...(plan.hide ?? []), ...writable.map((w) => path.join(w, '.git'))]);
      // A hidden folder that holds a writable one (the worktree base, a state folder) stays
      // hidden around it: the writable folder is mounted back inside the empty tmpfs.
      const mount: MountPlan = {
        cwd: real(plan.cwd),
        writable,
        readOnly: (plan.readOnly ?? []).map(real).filter((p) => existsSync(p)),
        hideDirs: hidden.dirs.filter((d) => !writable.includes(d)),
        hideFiles: hidden.files,
        overlays: plan.overlays ?? [],
        network: plan.network ?? false,
      };
      const argvFull = bwrapArgv({
        bwrap,
        user,
        limits,
        env: sandboxEnv(host.env, config, plan.env),
        plan: mount,
        command: argv,
      });
      return { file: argvFull[0] as string, args: argvFull.slice(1), env: { PATH: host.env.PATH ?? '/usr/bin:/bin' } };
    },
    lend: (dirs) => lendTrees(dirs.map(real), user),
  };
}

/** Quote `words` for /bin/sh and join them with spaces. Pure. */
export function shellWords(words: readonly string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}
