/**
 * The consult view of the policy (pure): the protected globs in force and, in words, how a fix
 * is tested and judged, from the `policy:` and `fixes:` sections of dancer.yaml.
 */
import type { FixesConfig, PolicyConfig } from '../config/index.js';
import type { ConsultPolicy } from '../consult/index.js';
import { pathsNamedBy } from './gate-definition.js';
import { protectedGlobs } from './policy.js';

/** Build the {@link ConsultPolicy} for the agent from the config. */
export function consultPolicy(policy: PolicyConfig, fixes: FixesConfig, configPath?: string): ConsultPolicy {
  const gate = fixes.gate;
  const steps = [
    ...(gate.install ? [`install: ${gate.install.run}`] : []),
    ...gate.steps.map((s) => `${s.name}: ${s.run}`),
  ];
  // Scripts the gate steps name are part of the gate: the agent may read them, never write them.
  const named = [...(gate.install ? [gate.install.run] : []), ...gate.steps.map((s) => s.run), gate.regression.command]
    .flatMap(pathsNamedBy)
    .filter((p) => !p.includes('{file}'));
  return {
    protectedPaths: protectedGlobs(policy, configPath, named),
    maxFiles: policy.maxFiles,
    maxLines: policy.maxLines,
    notes: [
      `The gate runs in this worktree: ${steps.join('; ')}.`,
      `The regression test you add is run alone with \`${gate.regression.command}\`: it must fail on the code before your change and pass after it.`,
      policy.allowDependencies ? 'New dependencies are allowed.' : 'Do not add dependencies or change lockfiles.',
      policy.allowEval ? 'eval is allowed.' : 'No eval or new Function in added code.',
      'Do not skip, narrow or delete tests.',
      policy.autoApprove === 'low'
        ? 'Low-risk fixes deploy after the gate without a human; medium and high wait for approval.'
        : 'Every fix waits for a human to approve it before it deploys.',
    ],
  };
}
