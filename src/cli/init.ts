import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import { observedAnswers, proposeSmoke, smokeYaml } from '../supervise/smoke-proposal.js';
import { systemdUnit } from '../supervise/systemd.js';
import { withConfigOption } from './common.js';
import { sandboxUserStep } from './init-sandbox.js';
import { printJson, progress } from './output.js';
import { supervisedService } from './supervise-common.js';

const STARTER = (name: string, start: string) => `# dancer.yaml: see docs/configuration.md
service:
  name: ${name}
  start: ${start}
  cwd: .
  env: { NODE_ENV: production }
  listen:
    - { name: http, port: 8080, host: 127.0.0.1 }
  readiness: { http: { path: /healthz, port: 8080 }, timeoutSeconds: 10 }
  drainSeconds: 10
store: { path: .dancer/dancer.db }
`;

/** `dancer init`: a starter dancer.yaml, or with --systemd a unit for the supervisor. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('init')
      .description('Write a starter dancer.yaml; with --systemd, write a systemd unit that runs dancer run for it.'),
  )
    .option('--systemd', 'write a systemd unit (Type=notify, WatchdogSec, Restart=on-failure, KillMode=mixed)')
    .option(
      '-o, --output <file>',
      'where to write the unit (default: dancer-<service>.service beside dancer.yaml; - for stdout)',
    )
    .option('--user <name>', 'User= for the unit')
    .option('--name <name>', 'service name for a new dancer.yaml', 'app')
    .option('--start <command>', 'start command for a new dancer.yaml', 'node server.js')
    .option(
      '--sandbox-user <name>',
      'unprivileged account model-written code runs as when Dancer is root (default: nobody)',
    )
    .option('--create-sandbox-user', 'create the sandbox account (default name dancer-sandbox) with useradd --system')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print what was written as JSON')
    .action(
      (opts: {
        config?: string;
        systemd?: boolean;
        output?: string;
        user?: string;
        name: string;
        start: string;
        force?: boolean;
        json?: boolean;
        sandboxUser?: string;
        createSandboxUser?: boolean;
      }) => {
        if (!opts.systemd) {
          const file = path.resolve(opts.config ?? 'dancer.yaml');
          if (existsSync(file) && !opts.force) {
            throw new DancerError('DANCER_USAGE', `${file} exists; pass --force to overwrite it.`);
          }
          // Smoke requests proposed from what the service answered so far (when a store exists).
          const smoke = smokeYaml(proposeSmoke(observedAnswers(path.join(path.dirname(file), '.dancer/dancer.db'))));
          writeFileSync(
            file,
            STARTER(opts.name, opts.start).replace('store:', `${smoke}store:`) + sandboxUserStep(opts),
          );
          if (opts.json) printJson({ written: file });
          else progress(`wrote ${file}`);
          return;
        }
        const { loaded, name } = supervisedService(opts.config);
        const service = loaded.config.service!;
        const unit = systemdUnit({
          service: name,
          configFile: loaded.file!,
          workingDirectory: loaded.dir,
          node: process.execPath,
          dancerBin: path.resolve(import.meta.dirname, '../../bin/dancer.js'),
          watchdogSeconds: service.watchdogSeconds,
          drainSeconds: service.drainSeconds,
          user: opts.user,
        });
        if (opts.output === '-') {
          process.stdout.write(unit);
          return;
        }
        const file = path.resolve(opts.output ?? path.join(loaded.dir, `dancer-${name}.service`));
        if (existsSync(file) && !opts.force)
          throw new DancerError('DANCER_USAGE', `${file} exists; pass --force to overwrite it.`);
        writeFileSync(file, unit);
        if (opts.json) printJson({ written: file, unit });
        else
          progress(
            `wrote ${file}\ninstall: cp ${file} /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now ${path.basename(file)}`,
          );
      },
    );
}
