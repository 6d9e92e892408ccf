/**
 * `dancer consult`: consult Claude about a pattern by hand.
 *
 * - `dancer consult --pattern ID --dry-run [--json]`: print the exact brief and the tool list,
 *   without calling a model.
 * - `dancer consult --pattern ID --worktree DIR [--urgent] [--manual] [--json]`: run a consultation
 *   in a git worktree (never the main working tree) and print its result.
 * - `dancer consult --bundle ID [--json]`: where the manual-mode bundle of a consultation is.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { ConsultTrigger } from '../consult/index.js';
import { AGENT_TOOLS, getConsultation, STORE_TOOLS, submitOutcomeShape } from '../consult/index.js';
import { DancerError } from '../errors.js';
import { consultPolicy } from '../fixes/index.js';
import { templateExists } from '../patterns/index.js';
import { type Db, openStore, templateHasLogs } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { makeColors, printJson, progress } from './output.js';

interface ConsultOptions extends GlobalOptions {
  pattern?: string;
  dryRun?: boolean;
  worktree?: string;
  urgent?: boolean;
  manual?: boolean;
  bundle?: string;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new DancerError('DANCER_USAGE', `${flag} must be a positive integer, not "${value}"`);
  return n;
}

function patternExists(db: Db, id: number): boolean {
  return templateExists(db, id) || templateHasLogs(db, id);
}

/** The tools the agent is offered, as the model sees their names. */
export function toolList(allowedCommands: readonly string[]): Array<{ name: string; description: string }> {
  const builtins = AGENT_TOOLS.filter((t) => t !== 'Bash' || allowedCommands.length > 0).map((name) => ({
    name,
    description:
      name === 'Bash'
        ? `Claude Code built-in; only: ${allowedCommands.join(', ')} (plain arguments, no shell operators)`
        : name === 'Edit' || name === 'Write'
          ? 'Claude Code built-in; inside the worktree, not .git, not protected paths'
          : 'Claude Code built-in; inside the worktree, not .git',
  }));
  return [
    ...builtins,
    {
      name: 'mcp__dancer__submit_outcome',
      description: `End the consultation with one outcome; fields: ${Object.keys(submitOutcomeShape).join(', ')}`,
    },
    ...STORE_TOOLS.map((t) => ({ name: `mcp__dancer__${t.name}`, description: t.description })),
  ];
}

async function patternCommand(options: ConsultOptions): Promise<void> {
  const loaded = configFor(options);
  const { config } = loaded;
  const templateId = positiveInt(options.pattern as string, '--pattern');
  const dbPath = dbPathFor(options, loaded);
  const configPath = loaded.file ? path.relative(loaded.resolve(config.fixes.repo), loaded.file) : undefined;
  const policy = consultPolicy(
    config.policy,
    config.fixes,
    configPath && !configPath.startsWith('..') ? configPath : undefined,
  );
  const trigger: ConsultTrigger = {
    id: `cli-${Date.now()}`,
    kind: 'manual',
    templateId,
    urgent: Boolean(options.urgent),
    numbers: {},
    reason: 'consultation requested from the command line',
    at: Date.now(),
  };
  // The Agent SDK loads only when a consultation is built, not with every CLI command.
  const { briefFor, consultSetup, runConsultation } = await import('../consult/index.js');
  if (options.dryRun) {
    const db = openStore(dbPath, { readonly: true });
    try {
      if (!patternExists(db, templateId))
        throw new DancerError('DANCER_NOT_FOUND', `No pattern ${templateId} in ${dbPath}.`);
      const worktree = options.worktree ? path.resolve(options.worktree) : loaded.resolve(config.fixes.repo);
      const setup = consultSetup(config.consult, policy, trigger.urgent);
      const { consultReads } = await import('../heal/index.js');
      const reads = consultReads();
      const brief = await briefFor({ db, trigger, worktree, policy, config: config.consult, reads }, setup);
      const tools = toolList(config.consult.allowedCommands);
      if (options.json) {
        printJson({
          pattern: templateId,
          model: config.consult.model,
          brief: { text: brief.text, tokens: brief.tokens, maxTokens: brief.maxTokens, sections: brief.sections },
          systemPrompt: setup.systemPrompt,
          tools,
        });
        return;
      }
      const c = makeColors();
      process.stdout.write(brief.text.endsWith('\n') ? brief.text : `${brief.text}\n`);
      process.stdout.write(`\n${c.bold('--- tools ---')}\n`);
      for (const t of tools) process.stdout.write(`${t.name}: ${t.description}\n`);
      progress(
        `brief: ${brief.tokens} of ${brief.maxTokens} estimated tokens; model ${config.consult.model}; no model was called`,
      );
    } finally {
      db.close();
    }
    return;
  }
  if (!options.worktree) {
    throw new DancerError(
      'DANCER_USAGE',
      'A consultation edits files: pass --worktree DIR (a git worktree, never the main working tree), or --dry-run.',
    );
  }
  const db = openStore(dbPath);
  try {
    if (!patternExists(db, templateId))
      throw new DancerError('DANCER_NOT_FOUND', `No pattern ${templateId} in ${dbPath}.`);
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    progress(`consulting on pattern ${templateId} in ${options.worktree} ...`);
    const { consultReads } = await import('../heal/index.js');
    const result = await runConsultation({
      db,
      reads: consultReads(),
      trigger,
      worktree: path.resolve(options.worktree),
      policy,
      config: config.consult,
      signal: controller.signal,
      bundleDir: loaded.resolve(config.consult.bundleDir),
      dbPath,
      forceManual: options.manual,
    }).finally(() => process.off('SIGINT', stop));
    if (options.json) printJson(result);
    else process.stdout.write(`${result.notice}\n`);
    if (result.status === 'failed') process.exitCode = 1;
  } finally {
    db.close();
  }
}

function bundleCommand(options: ConsultOptions): void {
  const id = positiveInt(options.bundle as string, '--bundle');
  const loaded = configFor(options);
  const db = openStore(dbPathFor(options, loaded), { readonly: true });
  try {
    const row = getConsultation(db, id);
    if (!row) throw new DancerError('DANCER_NOT_FOUND', `No consultation ${id}.`);
    if (!row.bundleDir) {
      throw new DancerError(
        'DANCER_NOT_FOUND',
        `Consultation ${id} has no bundle (it ran in ${row.mode} mode, status ${row.status}).`,
      );
    }
    const runScript = path.join(row.bundleDir, 'run.sh');
    if (options.json) {
      printJson({
        consultation: id,
        dir: row.bundleDir,
        run: `sh ${runScript}`,
        reason: row.manualReason,
        status: row.status,
      });
    } else {
      process.stdout.write(`${row.bundleDir}\n`);
      progress(`run it with: sh ${runScript}`);
    }
  } finally {
    db.close();
  }
}

/** Register `dancer consult`. */
export function register(program: Command): void {
  withDbOption(
    program
      .command('consult')
      .description(
        'Consult Claude about a pattern: print the brief (--dry-run), run a consultation, or find a manual bundle.',
      )
      .option('--pattern <id>', 'the pattern (template id) to consult about')
      .option('--dry-run', 'print the exact brief and the tool list without calling a model')
      .option(
        '--worktree <dir>',
        'git worktree the agent works in (source for the brief in --dry-run; default fixes.repo)',
      )
      .option('--urgent', 'use the urgent budget (as for a crash)')
      .option('--manual', 'write a manual-mode bundle instead of calling a model')
      .option('--bundle <id>', 'print where the bundle of a manual consultation is')
      .option('--json', 'print JSON on stdout'),
  ).action(async (options: ConsultOptions) => {
    if (options.bundle !== undefined && options.pattern !== undefined) {
      throw new DancerError('DANCER_USAGE', 'Give either --pattern or --bundle, not both.');
    }
    if (options.bundle !== undefined) return bundleCommand(options);
    if (options.pattern !== undefined) return patternCommand(options);
    throw new DancerError(
      'DANCER_USAGE',
      'Give --pattern ID (with --dry-run or --worktree) or --bundle ID. See dancer consult --help.',
    );
  });
}
