import type { Command } from 'commander';
import { register as registerConsult } from './consult.js';
import { register as registerMcp } from './mcp.js';
import { register as registerMine } from './mine.js';
import { register as registerPatterns } from './patterns.js';
import { register as registerReplay } from './replay.js';
import { register as registerIngest } from './ingest.js';
import { register as registerLogs } from './logs.js';
import { register as registerRun } from './run.js';
import { register as registerStatus } from './status.js';
import { register as registerReload } from './reload.js';
import { register as registerDeploy } from './deploy.js';
import { register as registerRollback } from './rollback.js';
import { register as registerInit } from './init.js';
import { register as registerStop } from './stop.js';
import { register as registerFixes } from './fixes.js';
import { register as registerChangelog } from './changelog.js';
import { register as registerPolicy } from './policy.js';
import { register as registerZulip } from '../notify/cli.js';

/**
 * Every command group, registered in one place. Each group lives in its own file and exports
 * `register(program)`; add one line here per group.
 */
export function registerCommands(program: Command): void {
  void program;
  registerConsult(program);
  registerMcp(program);
  registerMine(program);
  registerPatterns(program);
  registerReplay(program);
  registerIngest(program);
  registerLogs(program);
  registerRun(program);
  registerStatus(program);
  registerReload(program);
  registerDeploy(program);
  registerRollback(program);
  registerInit(program);
  registerStop(program);
  registerFixes(program);
  registerChangelog(program);
  registerPolicy(program);
  registerZulip(program);
}
