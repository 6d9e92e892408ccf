/**
 * Manual mode: instead of calling a model, a consultation becomes a bundle on disk that a human
 * runs with their own Claude Code: the brief (PROMPT.md), the rules (SYSTEM.md), the MCP config
 * for `dancer mcp` (tools over the store, plus `submit_outcome` bound to this consultation), the
 * guard (settings.json runs `dancer guard` before every tool call: the same path guard and the
 * same Bash sandbox as an automatic run, policy in guard.json), and a ready-to-run `claude -p`
 * command line (run.sh) with its own temp folder.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxConfig } from '../config/index.js';
import { redactForSinks } from '../redact/index.js';
import type { GuardFile } from './guard-hook.js';
import { AGENT_TOOLS, DISALLOWED_TOOLS, MCP_SERVER_NAME } from './tool-names.js';

/** Inputs of {@link writeBundle}. */
export interface BundleInput {
  /** Parent folder; the bundle goes to `<dir>/consultation-<id>`. */
  dir: string;
  consultationId: number;
  brief: string;
  systemPrompt: string;
  worktree: string;
  /** The database `dancer mcp` should read (absolute). */
  dbPath: string;
  model: string;
  maxTurns: number;
  maxBudgetUsd: number;
  allowedCommands: readonly string[];
  /** Names of the store tools (without prefix). */
  toolNames: readonly string[];
  /** Why this is a bundle and not a model call. */
  reason: string;
  /** Globs the agent may not write. */
  protectedPaths: readonly string[];
  /** `fixes.sandbox`: where Bash commands run. */
  sandbox: SandboxConfig;
  /** Dancer's paths hidden from Bash commands. */
  hide: readonly string[];
}

/** What was written. */
export interface Bundle {
  dir: string;
  promptFile: string;
  systemFile: string;
  mcpConfigFile: string;
  runScript: string;
  settingsFile: string;
  guardFile: string;
  /** The command line a human runs (also in run.sh). */
  command: string;
}

/** Single-quote for /bin/sh. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The Dancer CLI launcher of this installation. */
export function dancerBin(): string {
  return fileURLToPath(new URL('../../bin/dancer.js', import.meta.url));
}

/** Write the bundle. Returns its paths and command line. */
export function writeBundle(input: BundleInput): Bundle {
  const dir = path.resolve(input.dir, `consultation-${input.consultationId}`);
  mkdirSync(dir, { recursive: true });
  const promptFile = path.join(dir, 'PROMPT.md');
  const systemFile = path.join(dir, 'SYSTEM.md');
  const mcpConfigFile = path.join(dir, 'mcp.json');
  const runScript = path.join(dir, 'run.sh');
  const settingsFile = path.join(dir, 'settings.json');
  const guardFile = path.join(dir, 'guard.json');
  // Redacted again for the file a human may copy anywhere (the brief was redacted when built).
  writeFileSync(promptFile, redactForSinks(input.brief));
  writeFileSync(systemFile, input.systemPrompt);
  writeFileSync(
    mcpConfigFile,
    `${JSON.stringify(
      {
        mcpServers: {
          [MCP_SERVER_NAME]: {
            type: 'stdio',
            command: process.execPath,
            args: [dancerBin(), 'mcp', '--db', input.dbPath, '--consultation', String(input.consultationId)],
          },
        },
      },
      null,
      2,
    )}\n`,
  );
  const builtins = AGENT_TOOLS.filter((t) => t !== 'Bash' || input.allowedCommands.length > 0);
  const mcpTools = ['submit_outcome', ...input.toolNames].map((t) => `mcp__${MCP_SERVER_NAME}__${t}`);
  const guard: GuardFile = {
    worktree: input.worktree,
    protectedPaths: [...input.protectedPaths],
    allowedCommands: [...input.allowedCommands],
    mcpTools,
    sandbox: input.sandbox,
    hide: [...input.hide, input.dbPath],
  };
  writeFileSync(guardFile, `${JSON.stringify(guard, null, 2)}\n`);
  const hook = [process.execPath, dancerBin(), 'guard', '--policy', guardFile].map(shellQuote).join(' ');
  writeFileSync(
    settingsFile,
    `${JSON.stringify({ hooks: { PreToolUse: [{ matcher: '*', hooks: [{ type: 'command', command: hook }] }] } }, null, 2)}\n`,
  );
  const allowed = [
    ...builtins.filter((t) => t !== 'Bash'),
    ...input.allowedCommands.flatMap((c) => [`Bash(${c})`, `Bash(${c}:*)`]),
    ...mcpTools,
  ];
  const lines = [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a JS template.
    '"${CLAUDE:-claude}" -p',
    `--append-system-prompt "$(cat "$BUNDLE/SYSTEM.md")"`,
    `--model ${shellQuote(input.model)}`,
    '--output-format stream-json --verbose',
    '--permission-mode acceptEdits',
    `--tools ${shellQuote(builtins.join(','))}`,
    `--allowedTools ${shellQuote(allowed.join(','))}`,
    `--disallowedTools ${shellQuote([...DISALLOWED_TOOLS].join(','))}`,
    `--max-turns ${input.maxTurns}`,
    `--max-budget-usd ${input.maxBudgetUsd}`,
    '--setting-sources=',
    '--settings "$BUNDLE/settings.json"',
    '--strict-mcp-config --mcp-config "$BUNDLE/mcp.json"',
    '< "$BUNDLE/PROMPT.md" > "$BUNDLE/transcript.jsonl"',
  ];
  const command = lines.join(' \\\n  ');
  const script = `#!/bin/sh
# Dancer consultation ${input.consultationId} (manual mode: ${input.reason}).
# Runs Claude Code by hand in the worktree with the same brief, rules and tools as an automatic
# consultation. Needs ANTHROPIC_API_KEY (or a logged-in claude); set CLAUDE to use another binary.
# The transcript goes to transcript.jsonl; the agent's submit_outcome call records the outcome
# in Dancer's database (consultation ${input.consultationId}).
set -eu
command -v "\${CLAUDE:-claude}" >/dev/null || { echo "run.sh needs Claude Code installed (npm install -g @anthropic-ai/claude-code), or CLAUDE=/path/to/claude" >&2; exit 127; }
BUNDLE="$(cd "$(dirname "$0")" && pwd)"
TMPDIR="$(mktemp -d)"
CLAUDE_CODE_TMPDIR="$TMPDIR"
export TMPDIR CLAUDE_CODE_TMPDIR
# Bash commands run as the sandbox user, who borrows the worktree; hand it back afterwards.
trap '${[process.execPath, dancerBin(), 'guard', '--policy', guardFile, '--give-back'].map(shellQuote).join(' ').replace(/'/g, `'"'"'`)}; rm -rf "$TMPDIR"' EXIT
cd ${shellQuote(input.worktree)}
${command}
`;
  writeFileSync(runScript, script);
  chmodSync(runScript, 0o755);
  writeFileSync(
    path.join(dir, 'README.md'),
    `# Dancer consultation ${input.consultationId}

This consultation was not sent to a model (${input.reason}). To run it yourself:

    sh ${runScript}

- PROMPT.md: the brief (redacted; log text fenced as untrusted data).
- SYSTEM.md: the rules and the outcome contract, appended to Claude Code's system prompt.
- mcp.json: \`dancer mcp\` over the store, with \`submit_outcome\` bound to this consultation.
- Worktree: ${input.worktree}

Needs Claude Code installed (\`npm install -g @anthropic-ai/claude-code\`, or set CLAUDE to its
path) and ANTHROPIC_API_KEY (or a logged-in \`claude\`).

As safe as an automatic run: settings.json makes Claude Code run \`dancer guard\` before every
tool call, with the same rules (guard.json): paths only inside the worktree and never in
\`.git\`, protected paths (${input.protectedPaths.length} globs) never written, Bash only for ${input.allowedCommands.length ? input.allowedCommands.join(', ') : 'nothing'}, with no shell syntax,
and every allowed Bash command rewritten to run in the same sandbox as the gate (fixes.sandbox).
Claude Code's own permission rules (\`--tools\`, \`--allowedTools\`) apply too, and run.sh gives
it a private TMPDIR. Review the diff before using it.
`,
  );
  return { dir, promptFile, systemFile, mcpConfigFile, runScript, settingsFile, guardFile, command };
}
