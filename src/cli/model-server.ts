import path from 'node:path';
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import { loadScenarioFile, startModelServer } from '../testing/index.js';
import { printJson, progress } from './output.js';

interface ModelServerOptions {
  scenario: string;
  port?: string;
  host: string;
  record?: string;
  json?: boolean;
}

/** `dancer model-server`: the scripted model server, for rehearsing a service's healing offline. */
export function register(program: Command): void {
  program
    .command('model-server')
    .description(
      'Start the scripted model server (an Anthropic Messages API on loopback that plays back a scenario) for rehearsing healing offline: run dancer with ANTHROPIC_BASE_URL set to the printed URL. Format: docs/scenario.schema.json, docs/model-server.md.',
    )
    .requiredOption('--scenario <file>', 'scenario file (YAML or JSON)')
    .option('--port <n>', 'port to listen on (default: any free port)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--record <file>', 'append every request as one JSON line to FILE')
    .option('--json', 'print { url, port, record } as JSON when listening')
    .action((opts: ModelServerOptions) => serve(opts));
}

async function serve(opts: ModelServerOptions): Promise<void> {
  const port = opts.port === undefined ? 0 : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new DancerError('DANCER_USAGE', `--port needs a port number (0-65535), got "${opts.port}".`);
  }
  const scenario = loadScenarioFile(path.resolve(opts.scenario));
  const record = opts.record === undefined ? undefined : path.resolve(opts.record);
  const server = await startModelServer({
    scenario,
    port,
    host: opts.host,
    ...(record ? { recordFile: record } : {}),
    onRequest: (r) =>
      progress(
        `model-server: ${r.method} ${r.path} -> ${r.answer.kind}${'k' in r.answer ? ` (turn ${r.answer.k})` : ''}`,
      ),
  });
  if (opts.json) printJson({ url: server.url, port: server.port, record: record ?? null });
  else {
    process.stdout.write(`ANTHROPIC_BASE_URL=${server.url}\n`);
    progress(
      `model-server: playing ${scenario.turns.length} turns from ${opts.scenario} on ${server.url}; Ctrl-C to stop`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  const surprises = server.surprises().length;
  progress(`model-server: ${server.requests.length} requests, ${surprises} unexpected`);
}
