import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import {
  canSocketActivate,
  observedAnswers,
  proposeSmoke,
  smokeYaml,
  socketUnitName,
  systemdSocketUnit,
  systemdUnit,
} from '../supervise/index.js';
import { withConfigOption } from './common.js';
import { detectProject, type ProjectPlan } from './init-detect.js';
import { sandboxUserStep } from './init-sandbox.js';
import { scanProject } from './init-scan.js';
import { renderDancerYaml } from './init-yaml.js';
import { makeColors, printJson, progress } from './output.js';
import { supervisedService } from './supervise-common.js';

interface InitOptions {
  config?: string;
  systemd?: boolean;
  output?: string;
  user?: string;
  name?: string;
  start?: string;
  port?: string;
  yes?: boolean;
  force?: boolean;
  json?: boolean;
  sandboxUser?: string;
  createSandboxUser?: boolean;
}

/** `dancer init`: a dancer.yaml fitted to the project, or with --systemd a unit for the supervisor. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('init')
      .description(
        'Read the project (package.json scripts and main, Python or Go entry points, how it listens) and write a dancer.yaml that runs it unchanged; with --systemd, write a systemd unit that runs dancer run for it.',
      ),
  )
    .option('-y, --yes', 'write dancer.yaml without asking (for scripts)')
    .option(
      '--systemd',
      'write a systemd unit (Type=notify, WatchdogSec, Restart=on-failure); in socket mode with fixed ports also the .socket unit that holds the sockets, so the service answers through a supervisor crash',
    )
    .option(
      '-o, --output <file>',
      'where to write the unit (default: dancer-<service>.service beside dancer.yaml; - for stdout)',
    )
    .option('--user <name>', 'User= for the unit')
    .option('--name <name>', 'service name (default: from package.json or the folder)')
    .option('--start <command>', 'start command (default: detected)')
    .option('--port <n>', "port the service listens on (default: the code's own default, else 8080)")
    .option(
      '--sandbox-user <name>',
      'unprivileged account model-written code runs as when Dancer is root (default: nobody)',
    )
    .option('--create-sandbox-user', 'create the sandbox account (default name dancer-sandbox) with useradd --system')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print what was found and written as JSON')
    .action(async (opts: InitOptions) => {
      if (opts.systemd) initSystemd(opts);
      else await initConfig(opts);
    });
}

/** Write (or, without --yes and no terminal to ask on, only show) the dancer.yaml for the project. */
async function initConfig(opts: InitOptions): Promise<void> {
  const file = path.resolve(opts.config ?? 'dancer.yaml');
  if (existsSync(file) && !opts.force) {
    throw new DancerError('DANCER_USAGE', `${file} exists; pass --force to overwrite it.`);
  }
  const detected = detectProject(scanProject(path.dirname(file)));
  const plan: ProjectPlan = {
    ...detected,
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.start ? { start: opts.start } : {}),
    ...(opts.port !== undefined && detected.listen !== 'none' ? { port: parsePort(opts.port) } : {}),
  };
  // Smoke requests proposed from what the service answered so far (when a store exists).
  const smoke = smokeYaml(proposeSmoke(observedAnswers(path.join(path.dirname(file), '.dancer/dancer.db'))));
  const yaml = renderDancerYaml(plan).replace('\nstore:', `\n${smoke}store:`) + sandboxUserStep(opts);
  let write = opts.yes === true;
  if (!write) {
    if (!opts.json) showPlan(plan, file);
    if (process.stdin.isTTY && process.stderr.isTTY && !opts.json) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = (await rl.question(`write ${file}? [Y/n] `)).trim().toLowerCase();
      rl.close();
      write = answer === '' || answer === 'y' || answer === 'yes';
    }
  }
  if (!write) {
    if (opts.json) printJson({ written: null, file, plan, yaml });
    else process.stdout.write(yaml);
    progress(`not written: run \`dancer init --yes\` to write ${path.basename(file)}`);
    return;
  }
  writeFileSync(file, yaml);
  if (opts.json) printJson({ written: file, file, plan, yaml });
  else {
    progress(`wrote ${file}`);
    for (const t of plan.todo) progress(`to do: ${t}`);
    progress('next: dancer run');
  }
}

function parsePort(input: string): number {
  const n = Number(input);
  if (!/^\d+$/.test(input) || n < 1 || n > 65535) {
    throw new DancerError('DANCER_USAGE', `--port needs a port number (1-65535), got "${input}".`);
  }
  return n;
}

function showPlan(plan: ProjectPlan, file: string): void {
  const c = makeColors(process.stderr);
  progress(c.bold(`dancer init: ${plan.kind} service "${plan.name}" (${file})`));
  for (const f of plan.findings) progress(`  found: ${f}`);
  progress(`  start: ${plan.start}`);
  if (plan.build) progress(`  build: ${plan.build}`);
  progress(`  test:  ${plan.test ?? '(none found)'}`);
  const how = plan.listen === 'none' ? 'no socket (a worker)' : `${plan.listen} mode on 127.0.0.1:${plan.port}`;
  progress(`  listen: ${how}`);
  for (const t of plan.todo) progress(c.yellow(`  to do: ${t}`));
}

function initSystemd(opts: InitOptions): void {
  const { loaded, name } = supervisedService(opts.config);
  const service = loaded.config.service!;
  const listen = service.mode === 'socket' ? service.listen : undefined;
  const unit = systemdUnit({
    service: name,
    configFile: loaded.file!,
    workingDirectory: loaded.dir,
    node: process.execPath,
    dancerBin: path.resolve(import.meta.dirname, '../../bin/dancer.js'),
    watchdogSeconds: service.watchdogSeconds,
    drainSeconds: service.drainSeconds,
    user: opts.user,
    listen,
  });
  const socketUnit = canSocketActivate(listen) ? systemdSocketUnit({ service: name, listen }) : undefined;
  if (opts.output === '-') {
    process.stdout.write(socketUnit ? `${unit}\n# ---- ${socketUnitName(name)} ----\n${socketUnit}` : unit);
    return;
  }
  const file = path.resolve(opts.output ?? path.join(loaded.dir, `dancer-${name}.service`));
  const socketFile = socketUnit ? path.join(path.dirname(file), socketUnitName(name)) : undefined;
  for (const f of [file, socketFile]) {
    if (f && existsSync(f) && !opts.force)
      throw new DancerError('DANCER_USAGE', `${f} exists; pass --force to overwrite it.`);
  }
  writeFileSync(file, unit);
  if (socketFile && socketUnit) writeFileSync(socketFile, socketUnit);
  if (opts.json) printJson({ written: file, unit, socketWritten: socketFile ?? null, socketUnit: socketUnit ?? null });
  else {
    const files = [file, socketFile].filter(Boolean).join(' ');
    const enable = socketFile ? path.basename(socketFile) : path.basename(file);
    progress(
      `wrote ${files}\ninstall: cp ${files} /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now ${enable}${socketFile ? ` ${path.basename(file)}` : ''}`,
    );
  }
}
