import type { Command } from 'commander';

/** A module that adds its commands to the program (each `src/cli/<group>.ts` is one). */
export interface CommandModule {
  register(program: Command): void;
}

/**
 * One command group: the top-level command names its `register` adds, and how to load it.
 * Groups are imported only when needed, so `dancer logs` never loads the Agent SDK or the MCP SDK.
 */
export interface CommandGroup {
  /** Top-level command names (and aliases) that the group's `register` adds to the program. */
  readonly commands: readonly string[];
  /** Import the group's module (a dynamic `import()`, so nothing loads until it is called). */
  readonly load: () => Promise<CommandModule>;
}

/**
 * Every command group, in the order `dancer --help` lists them. Add one line per group: the
 * names it registers and a dynamic import of its file. A command missing from `commands` still
 * works (every group is then loaded), only more slowly; a test checks the lists are complete.
 */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  { commands: ['consult'], load: () => import('./consult.js') },
  { commands: ['mcp'], load: () => import('./mcp.js') },
  { commands: ['guard'], load: () => import('./guard.js') },
  { commands: ['mine'], load: () => import('./mine.js') },
  { commands: ['patterns'], load: () => import('./patterns.js') },
  { commands: ['replay'], load: () => import('./replay.js') },
  { commands: ['ingest'], load: () => import('./ingest.js') },
  { commands: ['logs'], load: () => import('./logs.js') },
  { commands: ['run'], load: () => import('./run.js') },
  { commands: ['status'], load: () => import('./status.js') },
  { commands: ['reload'], load: () => import('./reload.js') },
  { commands: ['deploy', 'accept'], load: () => import('./deploy.js') },
  { commands: ['rollback'], load: () => import('./rollback.js') },
  { commands: ['init'], load: () => import('./init.js') },
  { commands: ['stop', 'resume'], load: () => import('./stop.js') },
  { commands: ['fixes'], load: () => import('./fixes.js') },
  { commands: ['changelog'], load: () => import('./changelog.js') },
  { commands: ['policy'], load: () => import('./policy.js') },
  { commands: ['zulip'], load: () => import('./zulip.js') },
  { commands: ['dashboard'], load: () => import('./dashboard.js') },
  { commands: ['top'], load: () => import('./top.js') },
  { commands: ['consultations'], load: () => import('./consultations.js') },
  { commands: ['model-server'], load: () => import('./model-server.js') },
  { commands: ['fleet'], load: () => import('./fleet.js') },
];

/**
 * The groups to load for a command line (`argv` as in `process.argv`): only the group that owns
 * the first argument when it names a known command, else all of them (root `--help`, `help`,
 * `--version`, a typo that wants "did you mean", or a command missing from the table).
 */
export function groupsFor(
  argv: readonly string[] | undefined,
  groups: readonly CommandGroup[] = COMMAND_GROUPS,
): readonly CommandGroup[] {
  const first = argv?.[2];
  if (first === undefined) return groups;
  const owner = groups.find((group) => group.commands.includes(first));
  return owner === undefined ? groups : [owner];
}

/**
 * Register the command groups that `argv` needs (all of them when `argv` is omitted), in
 * table order, so help output is the same whichever way the program was built.
 */
export async function registerCommands(program: Command, argv?: readonly string[]): Promise<void> {
  const wanted = groupsFor(argv);
  const modules = await Promise.all(wanted.map((group) => group.load()));
  for (const mod of modules) mod.register(program);
}
