/**
 * The gate: everything a fix must pass in its worktree before a human sees it. Install (reusing
 * the deployed dependencies when no lockfile changed), the configured steps, and the regression
 * test run both ways: it must fail on the base commit and pass on the fix.
 */
import { cpSync, existsSync, mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { FixesConfig } from '../config/index.js';
import { matchesGlob } from '../consult/index.js';
import { resolveSandbox, type Sandbox } from '../sandbox/index.js';
import { baseDefinition, gitDirOf } from './gate-sandbox.js';
import { git } from './git.js';
import { failsWithPatternError, type PatternError } from './honesty.js';
import { type HonestyStep, runHonesty } from './honesty-step.js';
import { addDetachedWorktree, removeWorktree } from './repo.js';
import { runStep, type StepResult, shellQuote } from './run-step.js';

/** One gate step as it ran (`status` and `details` come from the honesty and coverage steps). */
export interface GateStepOutcome extends StepResult {
  name: string;
  command: string;
  startedAt: number;
  note: string | null;
  status?: HonestyStep['status'];
  details?: HonestyStep['details'];
}

/** What {@link runGate} needs. */
export interface GateInput {
  /** The main repository (for the temporary base worktree). */
  repo: string;
  /** The fix worktree. */
  worktree: string;
  baseCommit: string;
  /** Files the fix changed, repository-relative. */
  changedFiles: readonly string[];
  /** The regression test(s) to run both ways; see {@link findRegressionTests}. */
  regressionTests: readonly string[];
  /** Refuse a fix that has no regression test. */
  requireRegression: boolean;
  /** The pattern's own error: the regression test must fail on the base with it. */
  expectedError?: PatternError | undefined;
  config: FixesConfig;
  /** Folder whose `node_modules` can be reused (the deployed release, else the main working tree). */
  dependenciesFrom?: string | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Where the steps run. Default: `config.sandbox` resolved with the repository's `.git` and
   * `hide` hidden. Throws `DANCER_SANDBOX_UNAVAILABLE` when bubblewrap is missing and the
   * config does not say `none`.
   */
  sandbox?: Sandbox | undefined;
  /** Dancer's own paths (store, state folder, worktree base) hidden from every step. */
  hide?: readonly string[] | undefined;
  /** Warnings (running without a sandbox); default `process.emitWarning`. */
  onWarning?: ((message: string) => void) | undefined;
  /** Called after each step, in order (the pipeline stores it). */
  onStep?: ((step: GateStepOutcome) => void) | undefined;
  clock?: () => number;
}

/** The result of a gate run. */
export interface GateOutcome {
  ok: boolean;
  steps: GateStepOutcome[];
  /** Name of the step that failed. */
  failedStep?: string | undefined;
  /** Why it failed, for the fix record and the agent's repair round. */
  reason?: string | undefined;
  /** The gate passed but a step needs a human (a weaker suite, an unexecuted change): why. */
  needsHuman?: string[] | undefined;
  /** A stable code for failures only the user can act on (`DANCER_INSTALL_NETWORK_OFF`: no repair round is tried). */
  code?: 'DANCER_INSTALL_NETWORK_OFF' | undefined;
}

/** Why an install without network failed, and what to set. Pure. */
export function installOffline(lockChanged: boolean): string {
  return `DANCER_INSTALL_NETWORK_OFF: the install step runs without network (fixes.sandbox.installNetwork: false)${lockChanged ? ' and the fix changes a lockfile, so packages must be downloaded' : ''}: set fixes.sandbox.installNetwork: true to let the install step (and only it) reach the network, or review and install the dependency change by hand`;
}

/**
 * The regression tests of a fix: the one the agent named if the fix touched it, else the test
 * files the fix added or changed (by `fixes.gate.regression.testGlobs`).
 */
export function findRegressionTests(
  named: string | null | undefined,
  changedFiles: readonly string[],
  testGlobs: readonly string[],
): string[] {
  const clean = (p: string) => p.replace(/^\.\//, '');
  if (named && changedFiles.includes(clean(named))) return [clean(named)];
  return changedFiles.filter((f) => testGlobs.some((g) => matchesGlob(f, g)));
}

/** Fill `{file}` in a command template (each file quoted; several files space-separated). */
export function regressionCommand(template: string, files: readonly string[]): string {
  const quoted = files.map(shellQuote).join(' ');
  return template.includes('{file}') ? template.replaceAll('{file}', quoted) : `${template} ${quoted}`;
}

function tail(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-30).join('\n');
}

function linkDependencies(from: string | undefined, into: string): string | undefined {
  if (!from) return undefined;
  const source = path.join(from, 'node_modules');
  const target = path.join(into, 'node_modules');
  if (!existsSync(source) || existsSync(target)) return undefined;
  symlinkSync(source, target, 'dir');
  return source;
}

/** Run the gate in `input.worktree`. Stops at the first failing step. Never throws for a failing step. */
export async function runGate(input: GateInput): Promise<GateOutcome> {
  const gitDir = await gitDirOf(input.repo);
  const sandbox = input.sandbox ?? resolveSandbox({ config: input.config.sandbox, hide: [] });
  if (sandbox.kind === 'none') {
    const warn = input.onWarning ?? ((m: string) => process.emitWarning(m, 'DancerSandbox'));
    warn(`the gate runs without a sandbox (fixes.sandbox: none): ${sandbox.describe()}`);
  }
  const definition = await baseDefinition(input.repo, input.baseCommit, input.config);
  try {
    return await gateIn(input, sandbox, [gitDir, ...(input.hide ?? [])], definition);
  } finally {
    definition.dispose();
  }
}

async function gateIn(
  input: GateInput,
  sandbox: Sandbox,
  hide: string[],
  definition: Awaited<ReturnType<typeof baseDefinition>>,
): Promise<GateOutcome> {
  const clock = input.clock ?? Date.now;
  const gate = input.config.gate;
  const steps: GateStepOutcome[] = [];
  const tailBytes = gate.outputTailBytes;
  const record = (step: GateStepOutcome) => {
    steps.push(step);
    input.onStep?.(step);
    return step;
  };
  const run = async (
    name: string,
    command: string,
    cwd: string,
    timeoutSeconds: number | undefined,
    network = false,
    env?: Record<string, string>,
  ) => {
    const startedAt = clock();
    const deps = path.join(cwd, 'node_modules');
    const giveBack = sandbox.lend([cwd]);
    try {
      const result = await runStep(command, {
        cwd,
        env,
        timeoutMs: (timeoutSeconds ?? gate.stepTimeoutSeconds) * 1000,
        tailBytes,
        signal: input.signal,
        sandbox,
        plan: {
          writable: [cwd],
          // The linked dependencies stay visible (read-only) wherever they live.
          readOnly: existsSync(deps) ? [realpathSync(deps)] : [],
          hide,
          // The base commit's package.json, test-runner config and step scripts, read-only:
          // the gate a fix runs is never one the fix (or an earlier step) rewrote.
          overlays: definition.overlays(cwd),
          network,
        },
      });
      return { ...result, name, command, startedAt, note: null };
    } finally {
      giveBack();
    }
  };
  const fail = (failedStep: string, reason: string): GateOutcome => ({ ok: false, steps, failedStep, reason });
  // --- honesty and coverage (src/fixes/honesty-step.ts), after every other step passed ---
  const finish = async (): Promise<GateOutcome> => {
    if (!gate.report.enabled || input.signal?.aborted) return { ok: true, steps };
    const honesty = await runHonesty({
      repo: input.repo,
      worktree: input.worktree,
      baseCommit: input.baseCommit,
      changedFiles: input.changedFiles,
      config: input.config,
      dependenciesFrom: input.dependenciesFrom,
      run: (name, command, cwd, env) => run(name, command, cwd, undefined, false, env),
    });
    for (const step of honesty.steps) record(step);
    const reasons = honesty.verdict.reasons;
    if (honesty.verdict.status === 'failed')
      return fail('honesty', `the test suite does not pass: ${reasons.join('; ')}`);
    return reasons.length > 0 ? { ok: true, steps, needsHuman: reasons } : { ok: true, steps };
  };
  // ---

  if (gate.install) {
    const install = gate.install;
    const lockChanged = input.changedFiles.some((f) => install.lockfiles.some((l) => matchesGlob(f, l)));
    const reused =
      install.reuseDeployed && !lockChanged ? linkDependencies(input.dependenciesFrom, input.worktree) : undefined;
    if (reused) {
      record({
        ok: true,
        exitCode: 0,
        signal: null,
        timedOut: false,
        durationMs: 0,
        outputTail: '',
        name: 'install',
        command: install.run,
        startedAt: clock(),
        note: `skipped: no lockfile changed; reused ${reused}`,
      });
    } else {
      const step = record(
        await run('install', install.run, input.worktree, install.timeoutSeconds, sandbox.installNetwork),
      );
      if (!step.ok) {
        // Without network an install can only use what is already there; say what to set.
        if (sandbox.kind !== 'bwrap' || sandbox.installNetwork) return fail('install', stepReason(step));
        return {
          ...fail('install', `${stepReason(step)}; ${installOffline(lockChanged)}`),
          code: 'DANCER_INSTALL_NETWORK_OFF',
        };
      }
    }
  } else {
    linkDependencies(input.dependenciesFrom, input.worktree);
  }

  for (const spec of gate.steps) {
    const step = record(await run(spec.name, spec.run, input.worktree, spec.timeoutSeconds));
    if (!step.ok) return fail(spec.name, stepReason(step));
  }

  const tests = input.regressionTests;
  if (tests.length === 0) {
    if (!input.requireRegression) return finish();
    return fail(
      'regression',
      'the fix adds no regression test: add a test that fails on the base commit and passes with the fix, and name it in regressionTest',
    );
  }
  const regression = gate.regression;
  const command = regressionCommand(regression.command, tests);
  const after = record(await run('regression:fix', command, input.worktree, regression.timeoutSeconds));
  if (!after.ok) {
    return fail(
      'regression:fix',
      `the regression test ${tests.join(', ')} does not pass with the fix: ${stepReason(after)}`,
    );
  }
  const baseDir = `${input.worktree.replace(/\/+$/, '')}.base`;
  // Left over by a run that was killed: it is Dancer's own scratch worktree, safe to drop.
  if (existsSync(baseDir)) {
    await removeWorktree(input.repo, baseDir).catch(() => rmSync(baseDir, { recursive: true, force: true }));
  }
  await git(input.repo, ['worktree', 'prune']);
  await addDetachedWorktree(input.repo, baseDir, input.baseCommit);
  try {
    for (const test of tests) {
      const target = path.join(baseDir, test);
      mkdirSync(path.dirname(target), { recursive: true });
      cpSync(path.join(input.worktree, test), target);
    }
    const deps = existsSync(path.join(input.worktree, 'node_modules')) ? input.worktree : input.dependenciesFrom;
    linkDependencies(deps, baseDir);
    const before = await run('regression:base', command, baseDir, regression.timeoutSeconds);
    const passedOnBase = before.ok;
    // Failing is not enough: it must fail with the pattern's own error (src/fixes/honesty.ts).
    const own =
      !passedOnBase && input.expectedError ? failsWithPatternError(before.outputTail, input.expectedError) : undefined;
    record({
      ...before,
      // On the base commit, failing (with the pattern's error) is what we want.
      ok: !passedOnBase && own !== false && !input.signal?.aborted,
      note: passedOnBase
        ? `passes on the base commit ${input.baseCommit.slice(0, 12)}: it does not reproduce the bug`
        : own === false
          ? `fails on the base commit ${input.baseCommit.slice(0, 12)}, but not with the pattern's error`
          : `fails on the base commit ${input.baseCommit.slice(0, 12)}${own ? " with the pattern's error" : ''}, as it should`,
    });
    if (passedOnBase) {
      return fail(
        'regression:base',
        `the regression test ${tests.join(', ')} already passes on the base commit ${input.baseCommit.slice(0, 12)}, so it does not reproduce the bug; write a test that fails without the fix`,
      );
    }
    if (own === false) {
      const e = input.expectedError as PatternError;
      return fail(
        'regression:base',
        `the regression test ${tests.join(', ')} fails on the base commit, but not with the pattern's error (${[e.type, e.message].filter(Boolean).join(': ')}); write a test that reproduces that error`,
      );
    }
  } finally {
    await removeWorktree(input.repo, baseDir);
  }
  return finish();
}

function stepReason(step: StepResult & { name: string }): string {
  const how = step.timedOut
    ? 'timed out'
    : step.signal
      ? `was killed by ${step.signal}`
      : `exited with status ${step.exitCode}`;
  const out = tail(step.outputTail);
  return `step ${step.name} ${how}${out ? `:\n${out}` : ''}`;
}
