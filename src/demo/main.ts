/**
 * `npm run demo [-- --json] [-- --window N]`: the self-healing demo (see run-demo.ts).
 * Progress goes to stderr; with --json, stdout holds the summary JSON alone. Exits 1 when any
 * step failed.
 */
import path from 'node:path';
import { Command } from 'commander';
import { runDemo } from './run-demo.js';
import { renderSummary } from './summary.js';

const program = new Command('npm run demo --')
  .description(
    'The self-healing demo: a service with a latent bug heals itself (act one), and a bad fix is rolled back (act two). Offline with a scripted model unless ANTHROPIC_API_KEY is set.',
  )
  .option('--json', 'print the summary as JSON on stdout (progress stays on stderr)')
  .option('--zulip', 'approve fixes by a command from an allow-listed user through the Zulip test server')
  .option('--window <seconds>', 'observation window after each deploy', (v) => Number(v), 8)
  .option('--timeout <seconds>', 'give up on an act after this long', (v) => Number(v), 180)
  .action(async (opts: { json?: boolean; zulip?: boolean; window: number; timeout: number }) => {
    const summary = await runDemo({
      windowSeconds: opts.window,
      actTimeoutSeconds: opts.timeout,
      zulip: opts.zulip ?? false,
    });
    // The demo repository has no Dancer installed: print a command that works there as printed.
    const bin = path.resolve(import.meta.dirname, '../../bin/dancer.js');
    const dancer = `node ${bin.includes(' ') ? JSON.stringify(bin) : bin}`;
    if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stderr.write(renderSummary(summary, dancer));
    process.exitCode = summary.outcome === 'healed' ? 0 : 1;
  });

await program.parseAsync(process.argv);
