/**
 * The sandbox-user step of `dancer init`: when Dancer runs as root, model-written code runs as
 * an unprivileged account (`fixes.sandbox.user`). Choose an existing one (default `nobody`) or
 * create a dedicated system account with `--create-sandbox-user`.
 */
import { spawnSync } from 'node:child_process';
import { DancerError } from '../errors.js';
import { resolveUser } from '../sandbox/index.js';

/** Options of {@link sandboxUserStep}. */
export interface SandboxUserOptions {
  sandboxUser?: string | undefined;
  createSandboxUser?: boolean | undefined;
}

/**
 * Resolve (or create) the sandbox account and return the lines for the `fixes:` section of the
 * generated dancer.yaml (which ends with that section), or '' when Dancer is not root (the
 * sandbox then keeps Dancer's own uid).
 *
 * @throws {DancerError} `DANCER_SANDBOX_UNAVAILABLE` when the account does not exist and cannot be
 * created; `DANCER_USAGE` for `--create-sandbox-user` when not root.
 */
export function sandboxUserStep(opts: SandboxUserOptions, uid = process.getuid?.() ?? 0): string {
  if (opts.createSandboxUser && uid !== 0) {
    throw new DancerError(
      'DANCER_USAGE',
      '--create-sandbox-user needs root (it runs useradd): run dancer init as root, or create the account yourself and pass --sandbox-user NAME. When Dancer itself does not run as root, sandboxed code keeps its uid and no account is needed.',
    );
  }
  if (uid !== 0 && !opts.sandboxUser) return '';
  const name = opts.sandboxUser ?? (opts.createSandboxUser ? 'dancer-sandbox' : 'nobody');
  if (opts.createSandboxUser) {
    const exists = spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0;
    if (!exists) {
      const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], {
        encoding: 'utf8',
      });
      if (r.status !== 0) {
        throw new DancerError(
          'DANCER_SANDBOX_UNAVAILABLE',
          `could not create the sandbox user ${name}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`,
        );
      }
    }
  }
  const user = resolveUser(name);
  return `  # Gate steps and the agent's Bash commands run in bubblewrap as this unprivileged user.\n  sandbox: { user: ${user.name} }\n`;
}
