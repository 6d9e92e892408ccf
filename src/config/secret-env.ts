import type { DancerConfig } from './schema/index.js';

/** Provider variables Claude Code and the Agent SDK read for credentials, whatever the config says. */
const PROVIDER_SECRETS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;

/**
 * Names of the environment variables that hold Dancer's own secrets under `config`: the provider's
 * credentials, `consult.apiKeyEnv`, `notify.zulip.apiKeyEnv`, each webhook's `secretEnv`,
 * `dashboard.tokenEnv` and the fleet's database URL. The service never inherits them, except those
 * listed in `service.passSecrets`.
 */
export function secretEnvNames(config: DancerConfig): string[] {
  const names = new Set<string>(PROVIDER_SECRETS);
  names.add(config.consult.apiKeyEnv);
  if (config.notify.zulip?.apiKeyEnv) names.add(config.notify.zulip.apiKeyEnv);
  for (const hook of config.notify.webhooks ?? []) if (hook.secretEnv) names.add(hook.secretEnv);
  if (config.dashboard.tokenEnv) names.add(config.dashboard.tokenEnv);
  const fleet = (config as { fleet?: { postgres?: { urlEnv?: string } } }).fleet;
  if (fleet?.postgres?.urlEnv) names.add(fleet.postgres.urlEnv);
  return [...names];
}

/** The secret variables the service does not inherit: {@link secretEnvNames} less `service.passSecrets`. */
export function withheldFromService(config: DancerConfig): string[] {
  const passed = new Set(config.service?.passSecrets ?? []);
  return secretEnvNames(config).filter((name) => !passed.has(name));
}
