/**
 * The bubblewrap command line, as a pure function of what a run may see and do. Layout: the
 * whole system read-only, a private `/tmp`, the listed folders writable, Dancer's own files
 * (store, control socket, the repository's `.git`, other worktrees) hidden under empty tmpfs or
 * /dev/null, new pid, ipc, uts and (unless allowed) network namespaces, a clean environment, and
 * resource limits through prlimit. As root, bwrap builds the mounts and the command runs as
 * the unprivileged `user` (setpriv, no capabilities, no supplementary groups); otherwise bwrap
 * uses a user namespace and the command keeps Dancer's uid.
 */
import path from 'node:path';

/** The account sandboxed code runs as when Dancer is root. */
export interface SandboxUser {
  name: string;
  uid: number;
  gid: number;
}

/** Resource limits of every sandboxed process tree (`fixes.sandbox.limits`). */
export interface SandboxLimits {
  cpuSeconds: number;
  memoryMb: number;
  processes: number;
  fileSizeMb: number;
}

/** What one sandboxed run may see and touch. All paths absolute. */
export interface MountPlan {
  cwd: string;
  /** Bound read-write at the same path. */
  writable: readonly string[];
  /** Bound read-only at the same path (things under /tmp that must stay visible). */
  readOnly: readonly string[];
  /** Folders replaced by an empty tmpfs. */
  hideDirs: readonly string[];
  /** Files replaced by /dev/null. */
  hideFiles: readonly string[];
  /** Files bound read-only over `target` from `source` (the base commit's gate definition). */
  overlays: ReadonlyArray<{ source: string; target: string }>;
  network: boolean;
}

/** Inputs of {@link bwrapArgv}. */
export interface BwrapInput {
  bwrap: string;
  /** Drop to this account (Dancer is root); null keeps Dancer's uid inside a user namespace. */
  user: SandboxUser | null;
  limits: SandboxLimits;
  env: Readonly<Record<string, string>>;
  plan: MountPlan;
  command: readonly string[];
}

const MB = 1024 * 1024;

function under(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

type Op = { path: string; args: string[] };

/** The full argv (argv[0] is bwrap) for running `input.command` in the sandbox. */
export function bwrapArgv(input: BwrapInput): string[] {
  const { plan, limits } = input;
  const args: string[] = [input.bwrap, '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  const tmpfsRoots = ['/tmp', ...plan.hideDirs];
  const ops: Op[] = [
    ...plan.hideDirs.map((p) => ({ path: p, args: ['--tmpfs', p] })),
    ...plan.hideFiles.map((p) => ({ path: p, args: ['--ro-bind', '/dev/null', p] })),
    ...plan.writable.map((p) => ({ path: p, args: ['--bind', p, p] })),
    ...plan.readOnly.map((p) => ({ path: p, args: ['--ro-bind', p, p] })),
  ];
  // Parents first; a hidden file inside a writable folder is mounted after the folder.
  ops.sort((a, b) => depth(a.path) - depth(b.path));
  const made = new Set<string>();
  const ensureParents = (target: string) => {
    // Folders bwrap creates inside a tmpfs copy the real folder's mode (0700 temp folders would
    // lock the unprivileged user out): create them searchable first.
    const chain: string[] = [];
    for (let p = path.dirname(target); p !== '/' && p !== '.'; p = path.dirname(p)) chain.unshift(p);
    for (const p of chain) {
      if (made.has(p) || !tmpfsRoots.some((root) => under(p, root))) continue;
      made.add(p);
      args.push('--perms', '0755', '--dir', p);
    }
  };
  for (const op of ops) {
    ensureParents(op.path);
    args.push(...op.args);
  }
  for (const o of plan.overlays) {
    ensureParents(o.target);
    args.push('--ro-bind', o.source, o.target);
  }
  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try');
  if (!plan.network) args.push('--unshare-net');
  if (input.user) args.push('--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID');
  else args.push('--unshare-user');
  args.push('--die-with-parent', '--new-session', '--chdir', plan.cwd, '--clearenv');
  for (const [k, v] of Object.entries(input.env)) args.push('--setenv', k, v);
  args.push('--');
  if (input.user) {
    args.push(
      'setpriv',
      `--reuid=${input.user.uid}`,
      `--regid=${input.user.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
    );
  }
  args.push(
    'prlimit',
    `--cpu=${limits.cpuSeconds}`,
    // RLIMIT_DATA, not RLIMIT_AS: V8 reserves large address ranges (WebAssembly, used by fetch's
    // HTTP parser) that it never touches, so an address-space cap breaks ordinary tests.
    `--data=${limits.memoryMb * MB}`,
    `--nproc=${limits.processes}`,
    `--fsize=${limits.fileSizeMb * MB}`,
    '--core=0',
    '--',
    ...input.command,
  );
  return args;
}
