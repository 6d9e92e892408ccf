/**
 * `dancer mcp --db PATH [--consultation ID]`: the store tools as a stdio MCP server, for an
 * engineer's own Claude Code (`claude mcp add dancer -- dancer mcp --db PATH`).
 */
import type { Command } from 'commander';
import { createRedactor } from '../consult/index.js';
import { DancerError } from '../errors.js';
import { openStore } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';

interface McpOptions extends GlobalOptions {
  consultation?: string;
}

/** Register `dancer mcp`. */
export function register(program: Command): void {
  withDbOption(
    program
      .command('mcp')
      .description(
        'Serve the log-store tools (search_logs, list_patterns, get_pattern, pattern_timeline, get_request, get_metrics, list_fixes, get_fix) over MCP on stdio. Logs go to stderr; exits when stdin ends.',
      )
      .option('--consultation <id>', 'also serve submit_outcome, recording the outcome of this (manual) consultation'),
  ).action(async (options: McpOptions) => {
    const loaded = configFor(options);
    const file = dbPathFor(options, loaded);
    let consultationId: number | undefined;
    if (options.consultation !== undefined) {
      consultationId = Number(options.consultation);
      if (!Number.isInteger(consultationId) || consultationId <= 0) {
        throw new DancerError(
          'DANCER_USAGE',
          `--consultation must be a consultation id, not "${options.consultation}"`,
        );
      }
    }
    // Read-only unless an outcome may be recorded.
    const db = openStore(file, { readonly: consultationId === undefined });
    const r = loaded.config.consult.redact;
    // The MCP SDK loads only for this command.
    const { serveStdio } = await import('../mcp/index.js');
    const { consultReads } = await import('../heal/index.js');
    try {
      await serveStdio({
        db,
        reads: consultReads(),
        redactor: createRedactor({ ips: r.ips, emails: r.emails, patterns: r.patterns }),
        consultationId,
        version: process.env.npm_package_version,
        log: (line) => process.stderr.write(`${line}\n`),
      });
    } finally {
      db.close();
    }
  });
}
