/**
 * Pure decisions of a fleet rollout: which hosts go in which wave, and what the rollout does next
 * given every host's deploy state.
 */

/** A host's deploy of one fix. */
export type HostDeployState = 'pending' | 'deploying' | 'observing' | 'deployed' | 'failed' | 'rolled_back' | 'skipped';

/**
 * Split `hosts` into waves: wave 0 holds `canary` hosts (those in `preferCanary` first, e.g. the
 * host that made the fix), then waves of `waveSize`. Hosts are otherwise in name order, so every
 * host computes the same plan.
 */
export function planWaves(
  hosts: readonly string[],
  o: { canary: number; waveSize: number; preferCanary?: readonly string[] | undefined },
): string[][] {
  const unique = [...new Set(hosts)].sort();
  const preferred = (o.preferCanary ?? []).filter((h) => unique.includes(h));
  const ordered = [...new Set([...preferred, ...unique])];
  if (ordered.length === 0) return [];
  const waves: string[][] = [ordered.slice(0, Math.max(1, o.canary))];
  for (let i = waves[0]?.length ?? 0; i < ordered.length; i += Math.max(1, o.waveSize)) {
    waves.push(ordered.slice(i, i + Math.max(1, o.waveSize)));
  }
  return waves;
}

/** What a rollout does next. */
export type RolloutStep =
  | { kind: 'wave'; wave: number }
  | { kind: 'stop'; reason: string; failedHosts: string[] }
  | { kind: 'complete' };

/**
 * The next step of a rollout from its deploys: any failure or rollback stops it (the hosts still
 * pending are skipped); otherwise the current wave is the first one not fully `deployed`, and it
 * opens only when every earlier wave is deployed (its observation window passed); complete when
 * every host is deployed.
 */
export function nextRolloutStep(
  deploys: ReadonlyArray<{ host: string; wave: number; state: HostDeployState }>,
): RolloutStep {
  const failed = deploys.filter((d) => d.state === 'failed' || d.state === 'rolled_back');
  if (failed.length > 0) {
    const first = failed.reduce((a, b) => (b.wave < a.wave ? b : a));
    return {
      kind: 'stop',
      reason: `${first.wave === 0 ? 'canary' : `wave ${first.wave}`} ${failed.map((f) => f.host).join(', ')} ${failed.some((f) => f.state === 'rolled_back') ? 'rolled back' : 'failed'}`,
      failedHosts: failed.map((f) => f.host).sort(),
    };
  }
  const live = deploys.filter((d) => d.state !== 'skipped');
  if (live.length > 0 && live.every((d) => d.state === 'deployed')) return { kind: 'complete' };
  const waves = [...new Set(live.map((d) => d.wave))].sort((a, b) => a - b);
  for (const w of waves) {
    const inWave = live.filter((d) => d.wave === w);
    if (inWave.every((d) => d.state === 'deployed')) continue;
    // The first unfinished wave: its pending hosts deploy now; later waves wait for it.
    return { kind: 'wave', wave: w };
  }
  return { kind: 'complete' };
}
