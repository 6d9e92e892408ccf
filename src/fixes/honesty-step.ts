/**
 * The gate's `honesty` and `coverage` steps (I/O): run the test suite with the runner's own
 * reporter on the base commit and on the fix (V8 coverage on the fix), read the reports, count the
 * assertions of every test file the fix touched, and judge with {@link judgeHonesty}. The steps
 * run through the gate's own runner (the same sandbox and limits as every gate step).
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FixesConfig } from '../config/index.js';
import { matchesGlob } from '../consult/index.js';
import type { Db } from '../store/index.js';
import { latestErrorOfTemplate } from '../store/index.js';
import {
  type ChangeCoverage,
  changedLines,
  coverageOfChange,
  executedSourceLines,
  formatChangeCoverage,
} from './coverage.js';
import { git } from './git.js';
import { changedScripts, countAssertions, type HonestyVerdict, judgeHonesty, type PatternError } from './honesty.js';
import { addDetachedWorktree, diffBetween, fileAt, removeWorktree } from './repo.js';
import type { StepResult } from './run-step.js';
import { NODE_REPORTER_SOURCE, parseReport, type ReportFormat, type TestReport } from './test-report.js';

/** A step as the gate records it, with the honesty fields. */
export interface HonestyStep extends StepResult {
  name: string;
  command: string;
  startedAt: number;
  note: string | null;
  /** `needs_human` when the step does not pass but a human may approve knowingly. */
  status?: 'passed' | 'failed' | 'needs_human' | undefined;
  /** Structured results (counts per file, coverage), stored for the dashboard. */
  details?: Record<string, unknown> | undefined;
}

/** Runs a command the way the gate runs its steps. */
export type StepRunner = (
  name: string,
  command: string,
  cwd: string,
  env: Record<string, string>,
) => Promise<StepResult & { name: string; command: string; startedAt: number }>;

/** What {@link runHonesty} needs. */
export interface HonestyStepInput {
  repo: string;
  worktree: string;
  baseCommit: string;
  changedFiles: readonly string[];
  config: FixesConfig;
  run: StepRunner;
  /** Link this folder's node_modules into the base worktree. */
  dependenciesFrom?: string | undefined;
}

/** The steps to record and the verdict. */
export interface HonestyResult {
  steps: HonestyStep[];
  verdict: HonestyVerdict;
  coverage?: ChangeCoverage | undefined;
}

/** Where the reporter, the reports and the coverage go inside a worktree (never committed). */
const SCRATCH = path.join('.dancer', 'gate');

function fill(template: string, reporter: string, output: string): string {
  return template.replaceAll('{reporter}', reporter).replaceAll('{output}', output);
}

async function runReport(
  input: HonestyStepInput,
  cwd: string,
  label: string,
  coverage: boolean,
): Promise<{ step: HonestyStep; report: TestReport; coverageDir?: string }> {
  const settings = input.config.gate.report;
  const scratch = path.join(cwd, SCRATCH);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const reporter = path.join(scratch, 'reporter.mjs');
  const output = path.join(scratch, `report-${label}.out`);
  writeFileSync(reporter, NODE_REPORTER_SOURCE);
  const coverageDir = coverage ? path.join(scratch, 'coverage') : undefined;
  const command = fill(settings.command, reporter, output);
  const env: Record<string, string> = coverageDir ? { NODE_V8_COVERAGE: coverageDir } : {};
  const result = await input.run(`honesty:${label}`, command, cwd, env);
  let text = '';
  try {
    text = readFileSync(output, 'utf8');
  } catch {
    text = result.outputTail;
  }
  const report = parseReport(settings.format as ReportFormat, text, cwd);
  return {
    step: { ...result, note: null, details: { report } },
    report,
    ...(coverageDir ? { coverageDir } : {}),
  };
}

/**
 * The gate steps that build rather than test (`build`, `compile`, `tsc`...; the steps `dancer init`
 * writes are `build` and `test`), run on the base commit before its report.
 */
export function buildSteps(config: FixesConfig): Array<{ name: string; run: string }> {
  return config.gate.steps.filter((s) => /build|compile|tsc|bundle/i.test(s.name) && !/test/i.test(s.name));
}

/** Assertion counts of the test files among `files`, read by `read`. */
async function assertionCounts(
  files: readonly string[],
  read: (file: string) => Promise<string | undefined>,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const file of files) {
    const text = await read(file);
    if (text !== undefined) out[file] = countAssertions(text);
  }
  return out;
}

/** How a report run failed, in one line (its exit and the last line of its output). */
function stepFailure(step: StepResult): string {
  const how = step.timedOut
    ? 'timed out'
    : step.signal
      ? `was killed by ${step.signal}`
      : `exited with status ${step.exitCode}`;
  const last = step.outputTail.trim().split('\n').pop()?.trim();
  return last ? `${how}: ${last.slice(0, 300)}` : how;
}

/** Run the honesty and coverage steps. Never throws for a failing suite; the verdict says what happened. */
export async function runHonesty(input: HonestyStepInput): Promise<HonestyResult> {
  const globs = input.config.gate.regression.testGlobs;
  const isTest = (f: string) => globs.some((g) => matchesGlob(f, g));
  const head = (await git(input.worktree, ['rev-parse', 'HEAD'])).stdout.trim();

  const fixRun = await runReport(input, input.worktree, 'fix', input.config.gate.report.coverage);
  const baseDir = `${input.worktree.replace(/\/+$/, '')}.honesty-base`;
  if (existsSync(baseDir))
    await removeWorktree(input.repo, baseDir).catch(() => rmSync(baseDir, { recursive: true, force: true }));
  await git(input.repo, ['worktree', 'prune']);
  await addDetachedWorktree(input.repo, baseDir, input.baseCommit);
  let baseRun: Awaited<ReturnType<typeof runReport>>;
  let baseBuildFailed: string | undefined;
  try {
    const deps = existsSync(path.join(input.worktree, 'node_modules')) ? input.worktree : input.dependenciesFrom;
    // Link the real folder: the sandbox mounts only it (read-only) next to the base worktree, so a
    // link through the fix worktree's own link would dangle there, and node --test stops at it.
    if (deps && existsSync(path.join(deps, 'node_modules')) && !existsSync(path.join(baseDir, 'node_modules')))
      symlinkSync(realpathSync(path.join(deps, 'node_modules')), path.join(baseDir, 'node_modules'), 'dir');
    // A compiled project (TypeScript) tests its build output: build the base as the gate built the fix.
    for (const spec of buildSteps(input.config)) {
      const built = await input.run(`honesty:base:${spec.name}`, spec.run, baseDir, {});
      if (built.exitCode !== 0) baseBuildFailed = `${spec.name} (exit ${built.exitCode})`;
    }
    baseRun = await runReport(input, baseDir, 'base', false);
  } finally {
    await removeWorktree(input.repo, baseDir);
  }

  const touchedTests = input.changedFiles.filter(isTest);
  const assertionsBase = await assertionCounts(touchedTests, (f) => fileAt(input.repo, input.baseCommit, f));
  const assertionsFix = await assertionCounts(touchedTests, (f) => fileAt(input.repo, head, f));
  const baseTestFiles = (await git(input.repo, ['ls-tree', '-r', '--name-only', '-z', input.baseCommit])).stdout
    .split('\0')
    .filter((f) => f !== '' && isTest(f) && !f.startsWith('.dancer/'));
  const verdict = judgeHonesty({
    base: baseRun.report,
    baseTestFiles: baseTestFiles.length,
    baseReportFailure: baseRun.report.total.tests === 0 && !baseRun.step.ok ? stepFailure(baseRun.step) : undefined,
    fix: fixRun.report,
    assertionsBase,
    assertionsFix,
    changedFiles: input.changedFiles,
    changedScripts: input.changedFiles.includes('package.json')
      ? changedScripts(
          await fileAt(input.repo, input.baseCommit, 'package.json'),
          await fileAt(input.repo, head, 'package.json'),
        )
      : [],
  });

  if (baseBuildFailed) {
    verdict.reasons.push(`the base commit did not build (${baseBuildFailed}), so its test report cannot be compared`);
    if (verdict.status === 'passed') verdict.status = 'needs_human';
  }

  let coverage: ChangeCoverage | undefined;
  if (fixRun.coverageDir) {
    const diff = await diffBetween(input.repo, input.baseCommit, head);
    coverage = coverageOfChange(changedLines(diff), executedSourceLines(fixRun.coverageDir, input.worktree), isTest);
    if (coverage.changed > 0 && coverage.executed === 0 && !coverage.unjudged) {
      const reason = `no test executes any changed line (${formatChangeCoverage(coverage)})`;
      verdict.reasons.push(reason);
      if (verdict.status === 'passed') verdict.status = 'needs_human';
    }
  }
  rmSync(path.join(input.worktree, SCRATCH), { recursive: true, force: true });

  const total = (r: TestReport) =>
    `${r.total.tests} tests, ${r.total.pass} pass, ${r.total.fail} fail, ${r.total.skip} skip, ${r.total.todo} todo`;
  const honesty: HonestyStep = {
    ...fixRun.step,
    name: 'honesty',
    command: `${baseRun.step.command} (base and fix)`,
    durationMs: baseRun.step.durationMs + fixRun.step.durationMs,
    ok: verdict.status === 'passed',
    status: verdict.status,
    outputTail: fixRun.step.outputTail,
    note:
      verdict.status === 'passed'
        ? `base: ${total(baseRun.report)}; fix: ${total(fixRun.report)}`
        : `${verdict.status === 'needs_human' ? 'needs a human' : 'fails'}: ${verdict.reasons.join('; ')}`,
    details: { base: baseRun.report, fix: fixRun.report, assertionsBase, assertionsFix, reasons: verdict.reasons },
  };
  const steps: HonestyStep[] = [honesty];
  if (coverage) {
    const uncovered = coverage.changed > 0 && coverage.executed === 0 && !coverage.unjudged;
    steps.push({
      ok: !uncovered,
      exitCode: 0,
      signal: null,
      timedOut: false,
      durationMs: 0,
      outputTail: '',
      name: 'coverage',
      command: 'NODE_V8_COVERAGE',
      startedAt: fixRun.step.startedAt,
      note: formatChangeCoverage(coverage),
      status: uncovered ? 'needs_human' : 'passed',
      details: { coverage },
    });
  }
  return { steps, verdict, coverage };
}

/** The pattern's own error (type and message of its newest record with one), for the regression check. */
export function patternErrorOf(db: Db, patternId: string): PatternError | undefined {
  if (!/^\d+$/.test(patternId)) return undefined;
  const row = latestErrorOfTemplate(db, Number(patternId));
  if (!row) return undefined;
  return { type: row.type ?? undefined, message: row.message ?? undefined };
}
