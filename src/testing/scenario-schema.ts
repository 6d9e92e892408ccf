import { z } from 'zod';
import { scenarioSchema } from './scenario.js';

/** The JSON Schema of a scripted model server scenario (docs/scenario.schema.json). */
export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    title: 'Dancer model-server scenario',
    description:
      // biome-ignore lint/suspicious/noTemplateCurlyInString: `${cwd}` is the scenario's placeholder syntax.
      'Scripted assistant turns played back by `dancer model-server` / startModelServer(): the reply to a request with k assistant messages is turns[k]. Tool inputs may use ${cwd} for the agent working directory.',
  };
}
