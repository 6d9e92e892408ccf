import { errorMessage } from '../errors.js';
import type { DeployFn, ObserveFn } from '../fixes/index.js';
import type { Supervisor } from './supervisor.js';

/**
 * The deploy and observe functions the fix pipeline takes (`PipelineDeps.deploy` / `.observe`),
 * backed by a running supervisor. `deploy` resolves once the new release serves (or failed: the
 * old one kept serving); `observe` resolves with the window's verdict. A fix's pattern id, when
 * numeric, is the template whose rate before and after is the efficacy.
 */
export function fixDeployFunctions(supervisor: Supervisor): { deploy: DeployFn; observe: ObserveFn } {
  const deployIds = new Map<number, number>();
  return {
    async deploy(request) {
      try {
        const outcome = await supervisor.deploy(request.commit, {
          fixId: request.fixId,
          targetTemplateId: /^\d+$/.test(request.patternId) ? Number(request.patternId) : undefined,
          actor: 'fix-pipeline',
          reason: request.kind === 'rollback' ? `revert of fix ${request.fixId}` : `fix ${request.fixId}`,
          noWait: true,
        });
        if (outcome.deployId > 0) deployIds.set(request.fixId, outcome.deployId);
        return { ok: true };
      } catch (error) {
        return { ok: false, reason: errorMessage(error) };
      }
    },
    async observe(request) {
      const id =
        deployIds.get(request.fixId) ??
        supervisor.store.listDeploys(supervisor.name, 50).find((d) => d.kind === 'deploy' && d.fixId === request.fixId)
          ?.id;
      if (id === undefined) return { verdict: 'rollback', reason: `no deploy recorded for fix ${request.fixId}` };
      const outcome = await supervisor.observation(id);
      if (outcome.status === 'succeeded' || outcome.status === 'accepted')
        return { verdict: 'healthy', reason: outcome.reasons.join('; ') };
      // The trigger leads the reason (`inconclusive: error rate ...`), as in the rollback row.
      const why = outcome.verdict?.verdict === 'rollback' ? outcome.verdict.triggers.join(',') : outcome.status;
      return { verdict: 'rollback', reason: `${why}: ${outcome.reasons.join('; ')}` };
    },
  };
}
