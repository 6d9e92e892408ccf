/**
 * Claude Code itself in a network namespace of its own: it reaches the model endpoint and nothing
 * else (see egress.ts). Its files stay as they are (the whole system, as Dancer sees it: its file
 * tools are fenced by the path guard, its Bash commands by the sandbox they run in), but it has
 * no network interface but loopback, where a shim forwards one port to Dancer's egress socket.
 * As root it keeps its capabilities inside (its Bash commands start their own bubblewrap).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EGRESS_PORT, type Egress, type EgressPlan, egressEnv, egressPlan, startEgress } from './egress.js';

/**
 * The shim, run by node inside the namespace: `node -e SHIM SOCKET PORT COMMAND ARGS...` listens
 * on 127.0.0.1:PORT, pipes each connection to the Unix socket SOCKET, starts COMMAND with the
 * same stdio (the SDK's pipes) once it listens, and exits as COMMAND exits.
 */
export const EGRESS_SHIM = `
const net = require('node:net');
const { spawn } = require('node:child_process');
const [socket, port, command, ...args] = process.argv.slice(1);
const server = net.createServer((inner) => {
  const out = net.connect(socket);
  inner.pipe(out); out.pipe(inner);
  inner.on('error', () => out.destroy()); out.on('error', () => inner.destroy());
  inner.on('close', () => out.destroy()); out.on('close', () => inner.destroy());
});
server.listen(Number(port), '127.0.0.1', () => {
  const child = spawn(command, args, { stdio: 'inherit' });
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
  child.on('error', (e) => { process.stderr.write('dancer egress shim: ' + e.message + '\\n'); process.exit(127); });
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (require('node:os').constants.signals[signal] ?? 9)));
});
server.on('error', (e) => { process.stderr.write('dancer egress shim: ' + e.message + '\\n'); process.exit(126); });
`;

/** Inputs of {@link agentBwrapArgv}. */
export interface AgentBwrapInput {
  bwrap: string;
  /** Dancer is root: keep capabilities inside (no user namespace), so nested sandboxes can mount. */
  root: boolean;
  /** The node executable that runs the shim. */
  node: string;
  /** Dancer's egress socket (visible inside: the filesystem is shared). */
  socket: string;
  command: string;
  args: readonly string[];
}

/** The argv (argv[0] is bwrap) that runs Claude Code without network but the egress. Pure. */
export function agentBwrapArgv(input: AgentBwrapInput): string[] {
  return [
    input.bwrap,
    '--bind',
    '/',
    '/',
    '--dev-bind',
    '/dev',
    '/dev',
    '--proc',
    '/proc',
    '--unshare-net',
    '--unshare-pid',
    '--unshare-ipc',
    ...(input.root ? ['--cap-add', 'ALL'] : ['--unshare-user']),
    '--die-with-parent',
    '--',
    input.node,
    '-e',
    EGRESS_SHIM,
    input.socket,
    String(EGRESS_PORT),
    input.command,
    ...input.args,
  ];
}

/** A process as the Agent SDK would start it. */
export interface AgentProcess {
  command: string;
  args: string[];
  env: Record<string, string | undefined>;
}

/** Claude Code's network containment for one run. */
export interface AgentJail {
  readonly egress: Egress;
  /** Rewrite the SDK's spawn to run inside the namespace, with the endpoint rewritten to the egress. */
  wrap(p: AgentProcess): AgentProcess;
  /** Stop the egress and remove its socket. */
  close(): Promise<void>;
}

/**
 * Start the egress for `baseUrl` (unset: the Anthropic API) and return the wrapper for Claude
 * Code's process. `bwrap` is the bubblewrap executable.
 */
export async function jailAgent(input: {
  bwrap: string;
  baseUrl?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  uid?: number | undefined;
}): Promise<AgentJail> {
  const plan: EgressPlan = egressPlan(input.baseUrl);
  // A short path of its own (Unix socket paths are limited to 108 bytes), mode 0700.
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-egress-'));
  const socket = path.join(dir, 's');
  let egress: Egress;
  try {
    egress = await startEgress(socket, plan, input.env ?? process.env);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const root = (input.uid ?? process.getuid?.() ?? 1000) === 0;
  return {
    egress,
    wrap: (p) => {
      const argv = agentBwrapArgv({
        bwrap: input.bwrap,
        root,
        node: process.execPath,
        socket,
        command: p.command,
        args: p.args,
      });
      return { command: argv[0] as string, args: argv.slice(1), env: egressEnv(p.env, plan) };
    },
    close: async () => {
      await egress.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
