import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type JsonSchemaNode, renderConfigDocs } from './config-docs.js';
import { configJsonSchema } from './json-schema.js';

// `npm run docs:config`: regenerate docs/configuration.md from the zod schema.
const target = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
writeFileSync(target, renderConfigDocs(configJsonSchema() as JsonSchemaNode));
process.stdout.write(`wrote ${target}\n`);
