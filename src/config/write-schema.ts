import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scenarioJsonSchema } from '../testing/index.js';
import { configJsonSchema } from './json-schema.js';

// `npm run schema`: regenerate docs/dancer.schema.json from the zod schema.
const target = fileURLToPath(new URL('../../docs/dancer.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${target}\n`);

// ...and docs/scenario.schema.json, the scripted model server's scenario format.
const scenarioTarget = fileURLToPath(new URL('../../docs/scenario.schema.json', import.meta.url));
writeFileSync(scenarioTarget, `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${scenarioTarget}\n`);
