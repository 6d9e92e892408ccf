/**
 * `dancer policy check BRANCH|DIFF-FILE [--base REF] [--risk R] [--json]`: the same policy checks
 * the pipeline runs on a fix, by hand. Exit status 0 when the change is within policy, 1 when not.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import {
  checkPolicy,
  diffBetween,
  fileAt,
  git,
  gitOut,
  type PolicyResult,
  parseDiff,
  type Risk,
} from '../fixes/index.js';
import { configFor, type GlobalOptions, withConfigOption } from './common.js';
import { repoFor } from './fixes.js';
import { makeColors, printJson } from './output.js';

interface PolicyOptions extends GlobalOptions {
  base?: string;
  risk?: string;
  repo?: string;
}

async function checkCommand(target: string, options: PolicyOptions): Promise<void> {
  const loaded = configFor(options);
  const risk = options.risk as Risk | undefined;
  if (risk !== undefined && !['low', 'medium', 'high'].includes(risk)) {
    throw new DancerError('DANCER_USAGE', `--risk must be low, medium or high, not "${risk}"`);
  }
  let result: PolicyResult;
  let source: string;
  const repo = repoFor(options);
  const configPath = loaded.file && existsSync(repo) ? path.relative(repo, loaded.file) : undefined;
  const inRepo = configPath && !configPath.startsWith('..') ? configPath : undefined;
  if (existsSync(target) && statSync(target).isFile()) {
    source = path.resolve(target);
    result = checkPolicy(parseDiff(readFileSync(target, 'utf8')), loaded.config.policy, { risk, configPath: inRepo });
  } else {
    const verify = await git(repo, ['rev-parse', '--verify', '--quiet', `${target}^{commit}`], { allowFail: true });
    if (verify.exitCode !== 0) {
      throw new DancerError('DANCER_USAGE', `"${target}" is neither a diff file nor a branch or commit in ${repo}`, {
        details: { target, repo },
      });
    }
    const head = verify.stdout.trim();
    const baseRef = options.base ?? loaded.config.fixes.mainBranch ?? 'HEAD';
    const base = await gitOut(repo, ['merge-base', baseRef, head]);
    if (base === head) {
      throw new DancerError(
        'DANCER_USAGE',
        `${target} is already merged into ${baseRef}: pass --base with the commit it started from`,
        {
          details: { target, baseRef },
        },
      );
    }
    source = `${target} (against ${baseRef}, merge base ${base.slice(0, 12)})`;
    const diff = parseDiff(await diffBetween(repo, base, head));
    const packageJson = await Promise.all(
      diff.files
        .filter((f) => path.basename(f.path) === 'package.json')
        .map(async (f) => ({
          path: f.path,
          before: await fileAt(repo, base, f.oldPath),
          after: await fileAt(repo, head, f.path),
        })),
    );
    result = checkPolicy(diff, loaded.config.policy, { risk, packageJson, configPath: inRepo });
  }
  process.exitCode = result.ok ? 0 : 1;
  if (options.json) {
    printJson({ source, ...result });
    return;
  }
  const c = makeColors();
  const lines = [
    `${source}: ${result.filesChanged} files, ${result.linesChanged} lines changed`,
    result.ok ? c.green('within policy') : c.red(`${result.violations.length} violation(s):`),
    ...result.violations.map((v) => `  ${c.yellow(v.rule)}  ${v.message}`),
  ];
  if (result.ok)
    lines.push(
      result.needsApproval
        ? 'needs a human approval before deploy'
        : 'may deploy without a human (low risk, policy.autoApprove: low)',
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Register `dancer policy`. */
export function register(program: Command): void {
  const policy = program
    .command('policy')
    .description('The fix policy: protected paths, size limits, forbidden patterns, risk.');
  withConfigOption(
    policy
      .command('check <branch-or-diff-file>')
      .description(
        'Check a branch (against its merge base with the main branch) or a unified diff file against the policy.',
      )
      .option('--base <ref>', 'compare against this ref (default: fixes.mainBranch, else HEAD)')
      .option('--risk <risk>', 'the risk to judge approval by: low, medium or high')
      .option('--repo <dir>', 'service repository (default: fixes.repo from dancer.yaml)')
      .option('--json', 'print the result as JSON on stdout'),
  ).action((target: string, options: PolicyOptions) => checkCommand(target, options));
}
