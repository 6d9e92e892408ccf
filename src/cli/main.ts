import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isDancerError } from '../errors.js';
import { registerCommands } from './commands.js';

/**
 * The `dancer` program with the command groups that `argv` needs registered (every group when
 * `argv` is omitted). Groups load lazily, so a command starts without the others' dependencies.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('dancer')
    .description(
      'Services that fix themselves: capture logs, mine patterns, let Claude write fixes, deploy them safely.',
    )
    .version(dancerVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  await registerCommands(program, argv);
  return program;
}

/**
 * Run the CLI with `argv` (as in `process.argv`) and return the exit code. Errors are printed
 * once, with their code: a DancerError exits 2 for usage problems, 1 otherwise.
 */
export async function main(argv: string[]): Promise<number> {
  if (argv[2] !== 'run') exitQuietlyOnClosedStdout();
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode;
    }
    if (isDancerError(error)) {
      const wantsJson = argv.includes('--json');
      if (wantsJson) process.stderr.write(`${JSON.stringify({ error: error.toJSON() })}\n`);
      else process.stderr.write(`dancer: ${error.code}: ${error.message}\n`);
      return error.code === 'DANCER_USAGE' || error.code === 'DANCER_TIME_INVALID' ? 2 : 1;
    }
    throw error;
  }
}

/**
 * `dancer replay x --json | head -1`: when the reader of stdout goes away, stop quietly (exit 0)
 * instead of crashing on EPIPE. Not for `dancer run`, which must outlive its terminal.
 */
export function exitQuietlyOnClosedStdout(stdout: NodeJS.WriteStream = process.stdout): void {
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    process.stderr.write(`dancer: cannot write to stdout: ${error.message}\n`);
    process.exit(1);
  });
}

/** Dancer's own version, from its package.json (not npm_package_version: that is the caller's project under npx). */
export function dancerVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
