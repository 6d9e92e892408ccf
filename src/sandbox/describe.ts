/**
 * Which uid and which sandbox each part of Dancer runs with, in plain words, for `dancer status`,
 * `dancer run`'s start line and docs/security.md.
 */
import type { SandboxConfig } from '../config/index.js';
import { isDancerError } from '../errors.js';
import { resolveSandbox, type SandboxHost } from './sandbox.js';

/** Who runs what. */
export interface Containment {
  /** The supervised service. */
  service: string;
  /** Claude Code itself. */
  agent: string;
  /** The agent's Bash commands. */
  bash: string;
  /** Gate steps. */
  gate: string;
}

function who(uid: number): string {
  return uid === 0 ? 'uid 0 (root)' : `uid ${uid}`;
}

/** Describe the containment `config` gives on this host. Never throws. */
export function describeContainment(config: SandboxConfig, host?: SandboxHost): Containment {
  const uid = host?.uid ?? process.getuid?.() ?? 0;
  let sandboxed: string;
  try {
    sandboxed = resolveSandbox({ config, hide: [], host }).describe();
  } catch (error) {
    if (!isDancerError(error, 'DANCER_SANDBOX_UNAVAILABLE')) throw error;
    sandboxed = `REFUSED: ${error.message}`;
  }
  const network = sandboxed.startsWith('bubblewrap')
    ? 'its own network namespace reaching only the model endpoint'
    : "Dancer's network";
  return {
    service: `${who(uid)}, as Dancer itself (no sandbox)`,
    agent: `${who(uid)}, as Dancer, in ${network}, with its own HOME and TMPDIR and an environment of only PATH, locale and the API key; file tools fenced by the path guard`,
    bash: sandboxed,
    gate: sandboxed,
  };
}

/** One line: `dancer run`'s start line. */
export function containmentLine(c: Containment): string {
  return `service: ${c.service}; agent: ${c.agent.split(',')[0]}; agent Bash and gate: ${c.gate}`;
}
