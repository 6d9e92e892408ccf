import { z } from 'zod';

const gateStepSchema = z
  .object({
    name: z.string().min(1).describe('Step name, shown in the fix record and the changelog (e.g. build, test).'),
    run: z.string().min(1).describe('Shell command, run through /bin/sh in the fix worktree.'),
    timeoutSeconds: z
      .number()
      .positive()
      .optional()
      .describe('Kill the whole process tree after this long. Default: fixes.gate.stepTimeoutSeconds.'),
  })
  .strict();

const installSchema = z
  .object({
    run: z.string().min(1).default('npm ci').describe('Install command, run first in the fix worktree.'),
    lockfiles: z
      .array(z.string())
      .default(['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'])
      .describe('When none of these changed, the deployed release dependencies are reused instead.'),
    reuseDeployed: z
      .boolean()
      .default(true)
      .describe(
        'Link node_modules from the deployed release (or the main working tree) when lockfiles did not change.',
      ),
    timeoutSeconds: z.number().positive().optional(),
  })
  .strict();

const reportSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Run the honesty and coverage steps: the suite with its own reporter on the base and on the fix.'),
    command: z
      .string()
      .min(1)
      .default('node --test --test-reporter={reporter} --test-reporter-destination={output}')
      .describe(
        "Runs the whole test suite with a machine-readable reporter. {reporter}: Dancer's reporter for node --test; {output}: the file the report must be written to.",
      ),
    format: z
      .enum(['node', 'tap', 'json', 'junit', 'go-json'])
      .default('node')
      .describe(
        "The report's format: node (Dancer's node --test reporter), tap (TAP 13), json (Jest/Vitest --json), junit (JUnit XML: pytest --junitxml and others), go-json (go test -json).",
      ),
    coverage: z
      .boolean()
      .default(true)
      .describe('Record which changed lines the suite executed (NODE_V8_COVERAGE) and show it to the approver.'),
  })
  .strict();

const regressionSchema = z
  .object({
    command: z
      .string()
      .min(1)
      .default('node --test {file}')
      .describe('Command template that runs one test file; {file} is replaced by its quoted path.'),
    testGlobs: z
      .array(z.string())
      .default([
        '**/*.test.*',
        '**/*.spec.*',
        'test/**',
        'tests/**',
        '**/__tests__/**',
        '**/test_*.py',
        '**/*_test.py',
        '**/*_test.go',
      ])
      .describe('Which added files count as tests when the agent does not name its regression test.'),
    requireForImproveLogging: z
      .boolean()
      .default(false)
      .describe('Also demand a failing-before test from improve_logging outcomes.'),
    timeoutSeconds: z.number().positive().optional(),
  })
  .strict();

const sandboxLimitsSchema = z
  .object({
    cpuSeconds: z.number().int().positive().default(600).describe('CPU time of each sandboxed process (RLIMIT_CPU).'),
    memoryMb: z
      .number()
      .int()
      .positive()
      .default(4096)
      .describe('Memory (data segment and private mappings) of each sandboxed process, in MiB (RLIMIT_DATA).'),
    processes: z
      .number()
      .int()
      .positive()
      .default(256)
      .describe('Processes the sandbox user may have at once (RLIMIT_NPROC).'),
    fileSizeMb: z
      .number()
      .int()
      .positive()
      .default(1024)
      .describe('Largest file a sandboxed process may write, in MiB.'),
  })
  .strict();

const sandboxSchema = z.union([
  z.literal('none').describe('No sandbox: gate steps and Bash run as Dancer itself (warned on every run).'),
  z
    .object({
      user: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Unprivileged account (name, uid or uid:gid) sandboxed code runs as when Dancer is root. Default: nobody; dancer init offers to create a dedicated one.',
        ),
      bwrap: z.string().optional().describe('bubblewrap executable. Default: bwrap on PATH.'),
      limits: sandboxLimitsSchema.prefault({}),
      passEnv: z
        .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/))
        .default([])
        .describe("Variables copied from Dancer's environment into the sandbox on purpose (nothing else is)."),
      env: z.record(z.string(), z.string()).default({}).describe('Variables set in the sandbox.'),
      installNetwork: z
        .boolean()
        .default(false)
        .describe(
          "Let the install step reach the host's network (other gate steps and Bash never do). Off: an install that fails offline (e.g. a lockfile change) fails the gate with DANCER_INSTALL_NETWORK_OFF.",
        ),
    })
    .strict(),
]);

/** `fixes:` git worktrees, the gate and repair rounds. Owned by src/fixes. */
export const fixesSchema = z
  .object({
    repo: z.string().default('.').describe('The service git repository, relative to the config file.'),
    mainBranch: z
      .string()
      .optional()
      .describe('Branch fixes are merged into. Default: the branch checked out in the repository.'),
    worktreeBase: z
      .string()
      .optional()
      .describe(
        'Default: /var/dancer/<service>/worktrees as root when writable (one folder per service), else .dancer/worktrees.',
      ),
    author: z
      .object({
        name: z.string().default('Dancer'),
        email: z.string().default('dancer@localhost'),
      })
      .strict()
      .prefault({})
      .describe('Git identity for the commits, merges and reverts Dancer makes.'),
    sandbox: sandboxSchema
      .prefault({})
      .describe(
        "Where gate steps and the agent's Bash commands run: bubblewrap (read-only system, the worktree writable, no network, an unprivileged uid when Dancer is root, limits), or none.",
      ),
    pushRemote: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Git remote (name or URL) that receives the dancer/* branches and dancer-before-* tags after each fix and rollback (a backup of the history; retried, never blocking).',
      ),
    repairRounds: z
      .number()
      .int()
      .nonnegative()
      .default(2)
      .describe('How many times a failing gate goes back to the agent before the fix fails.'),
    retryCooldownMinutes: z
      .number()
      .nonnegative()
      .default(30)
      .describe('After a fix for a pattern is rolled back, no new attempt for that pattern for this long.'),
    maxAttemptsPerPattern: z
      .number()
      .int()
      .positive()
      .default(2)
      .describe(
        'Fix attempts per pattern in 24 hours; one more trigger escalates the pattern, and only a human reopens it (dancer patterns retry ID).',
      ),
    retention: z
      .object({
        keepFailed: z
          .number()
          .int()
          .nonnegative()
          .default(20)
          .describe('Failed or rejected fixes whose worktree and branch are kept for analysis.'),
      })
      .strict()
      .prefault({}),
    gate: z
      .object({
        install: installSchema.optional().describe('Install step; omit for services without dependencies.'),
        steps: z
          .array(gateStepSchema)
          .default([
            { name: 'build', run: 'npm run --if-present build' },
            { name: 'test', run: 'npm test' },
          ])
          .describe('Steps run in order after install; the first failure stops the gate.'),
        stepTimeoutSeconds: z.number().positive().default(600),
        outputTailBytes: z.number().int().positive().default(8192).describe('Output kept per step.'),
        regression: regressionSchema.prefault({}),
        report: reportSchema
          .prefault({})
          .describe(
            'The honesty step: test counts per file from the runner, base against fix, and coverage of the change.',
          ),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** `policy:` what a fix may change and when it may deploy without a human. Owned by src/fixes. */
export const policySchema = z
  .object({
    protectedPaths: z
      .array(z.string())
      .default([])
      .describe('Extra globs a fix must never touch (added to the defaults).'),
    defaultProtectedPaths: z
      .boolean()
      .default(true)
      .describe(
        'Protect dancer.yaml, CI config, migrations, .gitmodules, and lockfiles unless dependencies are allowed.',
      ),
    maxFiles: z.number().int().positive().default(10).describe('Most files a fix may change.'),
    maxLines: z.number().int().positive().default(400).describe('Most lines (added + removed) a fix may change.'),
    allowDependencies: z.boolean().default(false).describe('Allow new dependencies and lockfile changes.'),
    allowEval: z.boolean().default(false).describe('Allow eval( and new Function( in added code.'),
    forbiddenPatterns: z
      .array(
        z
          .object({
            pattern: z.string().describe('Regular expression matched against every added line.'),
            reason: z.string().describe('Shown when the pattern matches.'),
          })
          .strict(),
      )
      .default([])
      .describe('Extra patterns no added line may match.'),
    autoApprove: z
      .enum(['none', 'low'])
      .default('none')
      .describe(
        'none: every fix waits for a human; low: low-risk fixes deploy without one. Medium and high always wait.',
      ),
  })
  .strict();

/** The validated `fixes.sandbox` value. */
export type SandboxConfig = z.infer<typeof sandboxSchema>;
/** The validated `fixes:` section. */
export type FixesConfig = z.infer<typeof fixesSchema>;
/** The validated `policy:` section. */
export type PolicyConfig = z.infer<typeof policySchema>;
