/**
 * The environment a service's processes inherit from the supervisor: the supervisor's own, less
 * the variables that hold Dancer's secrets (the model's API key, the Zulip bot key, webhook and
 * dashboard secrets, the fleet's database URL). A deployed fix is code the model wrote; it must not
 * hold Dancer's powers, so these stay with Dancer unless `service.passSecrets` hands one on.
 *
 * @param withhold Names to leave out (see `secretEnvNames` in config).
 * @param base The environment to copy (default `process.env`).
 */
export function inheritedEnv(
  withhold: readonly string[] = [],
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of withhold) delete env[name];
  return env;
}
