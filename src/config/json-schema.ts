import { z } from 'zod';
import { configSchema } from './schema/index.js';

/** The JSON Schema of `dancer.yaml`, for editors (`# yaml-language-server: $schema=...`). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    title: 'dancer.yaml',
    description: 'Configuration of Dancer, the self-healing service supervisor.',
  };
}
