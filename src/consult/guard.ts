/**
 * The PreToolUse guard, as a pure decision: may this tool call run? Paths must stay inside the
 * worktree and out of `.git/`; protected paths may be read but never written; Bash runs only the
 * configured commands, with no shell operators. The agent sees the reason of every denial.
 */
import path from 'node:path';
import { matchesGlob } from './glob.js';

/** What the guard allows. */
export interface GuardPolicy {
  /** Absolute, real path of the worktree (symlinks resolved). */
  worktree: string;
  /** Repository-relative globs the agent must not write (`**`, `*`, `?`, `{a,b}`; no `/` = any folder). */
  protectedPaths: readonly string[];
  /** Commands Bash may run: exactly, or followed by arguments. Empty = no Bash. */
  allowedCommands: readonly string[];
  /** MCP tool names (full `mcp__server__tool`) that may run. */
  mcpTools: readonly string[];
}

/** One tool call to judge. */
export interface ToolCall {
  toolName: string;
  toolInput: Record<string, unknown>;
  /** The session cwd relative paths resolve against (the worktree). */
  cwd: string;
}

/** The guard's answer. */
export type GuardDecision = { allow: true } | { allow: false; reason: string };

/** Resolve symlinks of the deepest existing ancestor (I/O, injected so the decision stays testable). */
export type RealPath = (absolute: string) => string;

const READ_TOOLS = new Set(['Read', 'Grep', 'Glob']);
const WRITE_TOOLS = new Set(['Edit', 'Write', 'MultiEdit', 'NotebookEdit']);

/** Shell syntax that could chain, redirect, substitute or background commands. */
const SHELL_OPERATORS = /[;&|<>`$\n\r\\(){}!*?[\]~'"#]/;

const deny = (reason: string): GuardDecision => ({ allow: false, reason });

/** True when repository-relative `file` matches one of `globs`. */
export function matchesAny(file: string, globs: readonly string[]): boolean {
  // The policy's glob dialect; a glob naming a folder also covers what is inside it.
  return globs.some((g) => matchesGlob(file, g) || matchesGlob(file, `${g.trim().replace(/\/+$/, '')}/**`));
}

/** Check one path: inside the worktree, not under .git; returns the repository-relative path. */
function checkPath(
  raw: unknown,
  call: ToolCall,
  policy: GuardPolicy,
  realpath: RealPath,
): { ok: true; rel: string } | { ok: false; reason: string } {
  if (typeof raw !== 'string' || raw === '') return { ok: false, reason: 'A path is required.' };
  if (raw.includes('\0')) return { ok: false, reason: 'Paths may not contain NUL bytes.' };
  const expanded = raw.startsWith('~') ? `/__home__${raw.slice(1)}` : raw;
  const absolute = path.resolve(call.cwd, expanded);
  const real = realpath(absolute);
  const rel = path.relative(policy.worktree, real);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    return {
      ok: false,
      reason: `${raw} is outside the worktree ${policy.worktree}. Only files inside the worktree may be used.`,
    };
  }
  const parts = rel.split(path.sep);
  if (parts.includes('.git')) return { ok: false, reason: `${raw} is inside .git; git metadata is off limits.` };
  return { ok: true, rel: rel === '' ? '.' : parts.join('/') };
}

/** Is `command` one of the allowed commands (exactly, or followed by plain arguments)? */
export function commandAllowed(command: string, allowed: readonly string[]): GuardDecision {
  const trimmed = command.trim();
  if (allowed.length === 0) return deny('Bash is not allowed in this consultation.');
  if (SHELL_OPERATORS.test(trimmed)) {
    return deny(
      `Shell operators, quotes and expansions are not allowed (command: ${JSON.stringify(trimmed.slice(0, 200))}). Run one allowed command with plain arguments: ${allowed.join(', ')}.`,
    );
  }
  const normalized = trimmed.replace(/\s+/g, ' ');
  for (const entry of allowed) {
    const e = entry.trim().replace(/\s+/g, ' ');
    if (normalized === e || normalized.startsWith(`${e} `)) return { allow: true };
  }
  return deny(
    `Command not allowed: ${JSON.stringify(normalized.slice(0, 200))}. Allowed commands (optionally with arguments): ${allowed.join(', ')}.`,
  );
}

/**
 * Decide whether a tool call may run.
 *
 * @param realpath resolves symlinks of an absolute path (or of its deepest existing ancestor);
 *   pass `(p) => p` when the file system does not matter.
 */
export function decideToolUse(call: ToolCall, policy: GuardPolicy, realpath: RealPath): GuardDecision {
  const { toolName, toolInput } = call;
  if (toolName.startsWith('mcp__')) {
    return policy.mcpTools.includes(toolName) ? { allow: true } : deny(`Tool ${toolName} is not available.`);
  }
  if (toolName === 'Bash') {
    const command = toolInput.command;
    if (typeof command !== 'string') return deny('Bash needs a command.');
    if (toolInput.run_in_background === true) return deny('Background commands are not allowed.');
    return commandAllowed(command, policy.allowedCommands);
  }
  if (READ_TOOLS.has(toolName)) {
    const field = toolName === 'Read' ? 'file_path' : 'path';
    const target = toolInput[field] ?? (toolName === 'Read' ? undefined : call.cwd);
    const checked = checkPath(target, call, policy, realpath);
    if (!checked.ok) return deny(checked.reason);
    if (toolName === 'Glob' && typeof toolInput.pattern === 'string') {
      const pattern = toolInput.pattern;
      if (path.isAbsolute(pattern) || pattern.split('/').includes('..')) {
        const base = checkPath(pattern.split(/[*?{[]/)[0] || '/', call, policy, realpath);
        if (!base.ok) return deny(`Glob pattern ${pattern}: ${base.reason}`);
      }
    }
    return { allow: true };
  }
  if (WRITE_TOOLS.has(toolName)) {
    const field = toolName === 'NotebookEdit' ? 'notebook_path' : 'file_path';
    const checked = checkPath(toolInput[field], call, policy, realpath);
    if (!checked.ok) return deny(checked.reason);
    if (matchesAny(checked.rel, policy.protectedPaths)) {
      return deny(
        `${checked.rel} is a protected path; the policy forbids changing it. Propose the change in your outcome instead.`,
      );
    }
    return { allow: true };
  }
  return deny(`Tool ${toolName} is not available in this consultation.`);
}
