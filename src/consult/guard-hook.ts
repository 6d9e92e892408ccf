/**
 * The PreToolUse hook, one for both ways Claude Code runs: in-process for automatic
 * consultations (agent-runner) and as `dancer guard --policy FILE` for manual bundles. The
 * guard decides; an allowed Bash command is rewritten to run inside the sandbox.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fixesSchema, type SandboxConfig } from '../config/index.js';
import { DancerError } from '../errors.js';
import { RUN_TAG_ENV, resolveSandbox, type Sandbox, shellWords } from '../sandbox/index.js';
import { decideToolUse, type GuardDecision, type GuardPolicy, type RealPath } from './guard.js';

/** What a PreToolUse hook answers: nothing to add (run as asked) or a decision. */
export type HookAnswer =
  | { continue: true }
  | {
      hookSpecificOutput: {
        hookEventName: 'PreToolUse';
        permissionDecision: 'allow' | 'deny';
        permissionDecisionReason?: string;
        updatedInput?: Record<string, unknown>;
      };
    };

/** Resolve symlinks of the deepest existing ancestor of `absolute`. */
export const realpathDeep: RealPath = (absolute) => {
  let current = absolute;
  const rest: string[] = [];
  for (;;) {
    try {
      const real = realpathSync(current);
      return rest.length ? path.join(real, ...rest.reverse()) : real;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      rest.push(path.basename(current));
      current = parent;
    }
  }
};

/**
 * The shell command that runs `command` (already allowed by the guard: plain words, no shell
 * syntax) inside `sandbox`, in `worktree`, with `hide` hidden.
 */
export function sandboxedBash(
  sandbox: Sandbox,
  command: string,
  worktree: string,
  hide: readonly string[],
  tag?: string,
): string {
  const deps = path.join(worktree, 'node_modules');
  const wrapped = sandbox.command(['/bin/sh', '-c', command], {
    cwd: worktree,
    writable: [worktree],
    readOnly: existsSync(deps) ? [realpathSync(deps)] : [],
    hide,
    // The tag lets the runner kill the sandbox on a stop: Claude Code, not Dancer, started it.
    ...(tag ? { env: { [RUN_TAG_ENV]: tag } } : {}),
  });
  const env = Object.entries(wrapped.env).map(([k, v]) => `${k}=${shellWords([v])}`);
  return ['env', '-i', ...env, shellWords([wrapped.file, ...wrapped.args])].join(' ');
}

/** One PreToolUse call as Claude Code sends it. */
export interface HookInput {
  tool_name: string;
  tool_input?: unknown;
  cwd?: string;
}

/** The hook's answer to `input`; `onDeny` sees every refusal. */
export function answerToolUse(
  input: HookInput,
  guard: GuardPolicy,
  bash: { sandbox?: Sandbox | undefined; hide: readonly string[]; tag?: string | undefined },
  onDeny?: (toolName: string, toolInput: Record<string, unknown>, decision: GuardDecision & { allow: false }) => void,
): HookAnswer {
  const toolInput = (input.tool_input ?? {}) as Record<string, unknown>;
  const decision = decideToolUse(
    { toolName: input.tool_name, toolInput, cwd: input.cwd || guard.worktree },
    guard,
    realpathDeep,
  );
  if (!decision.allow) {
    onDeny?.(input.tool_name, toolInput, decision);
    return {
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'deny',
        permissionDecisionReason: decision.reason,
      },
    };
  }
  if (input.tool_name === 'Bash' && bash.sandbox) {
    // Fenced by where it runs, not by its spelling: the allowed command runs in the sandbox,
    // as the sandbox user, who must be able to write the worktree.
    bash.sandbox.lend([guard.worktree]);
    return {
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'allow',
        updatedInput: {
          ...toolInput,
          command: sandboxedBash(bash.sandbox, String(toolInput.command), guard.worktree, bash.hide, bash.tag),
        },
      },
    };
  }
  return { continue: true };
}

/** The guard policy file of a manual bundle (`guard.json`). */
export interface GuardFile extends GuardPolicy {
  /** `fixes.sandbox`. */
  sandbox: SandboxConfig;
  /** Paths hidden from Bash commands. */
  hide: string[];
}

/**
 * Read a bundle's guard file.
 *
 * @throws {DancerError} `DANCER_USAGE` when it is missing or malformed.
 */
export function readGuardFile(file: string): GuardFile {
  let parsed: Partial<GuardFile>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<GuardFile>;
  } catch (error) {
    throw new DancerError('DANCER_USAGE', `cannot read the guard policy ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof parsed.worktree !== 'string' || !Array.isArray(parsed.protectedPaths)) {
    throw new DancerError('DANCER_USAGE', `${file} is not a Dancer guard policy (worktree, protectedPaths, …)`);
  }
  return {
    worktree: realpathSync(parsed.worktree),
    protectedPaths: parsed.protectedPaths,
    allowedCommands: parsed.allowedCommands ?? [],
    mcpTools: parsed.mcpTools ?? [],
    sandbox: fixesSchema.shape.sandbox.parse(parsed.sandbox ?? {}),
    hide: parsed.hide ?? [],
  };
}

/** The hook answer for a bundle run (`dancer guard`): `input` judged by the policy in `file`. */
export function answerFromFile(file: string, input: HookInput): HookAnswer {
  const policy = readGuardFile(file);
  const sandbox =
    input.tool_name === 'Bash' && policy.allowedCommands.length > 0
      ? resolveSandbox({ config: policy.sandbox, hide: [] })
      : undefined;
  return answerToolUse(input, policy, { sandbox, hide: policy.hide });
}
