import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** What a systemd unit for `dancer run` needs. */
export interface UnitOptions {
  service: string;
  /** Absolute path of dancer.yaml. */
  configFile: string;
  /** Folder to run in (the config file's). */
  workingDirectory: string;
  /** Absolute node binary and dancer launcher (bin/dancer.js). */
  node: string;
  dancerBin: string;
  watchdogSeconds: number;
  drainSeconds: number;
  user?: string | undefined;
}

const quote = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/(["\\$`])/g, '\\$1')}"`);

/**
 * The unit text for `dancer init --systemd`: Type=notify (dancer run sends READY=1, STATUS= and
 * watchdog pings; NotifyAccess=all because a helper process sends the datagram), WatchdogSec,
 * Restart=on-failure, KillMode=mixed (SIGTERM to the supervisor only, so it drains its workers;
 * SIGKILL to whatever is left at the stop timeout).
 */
export function systemdUnit(o: UnitOptions): string {
  const exec = (cmd: string) => [o.node, o.dancerBin, cmd, '--config', o.configFile].map(quote).join(' ');
  return `[Unit]
Description=Dancer supervisor for ${o.service}
Documentation=${pathToFileURL(path.join(path.dirname(path.dirname(o.dancerBin)), 'docs', 'operations.md')).href}
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=all
ExecStart=${exec('run')}
ExecReload=${exec('reload')}
WorkingDirectory=${quote(o.workingDirectory)}
${o.user ? `User=${o.user}\n` : ''}Restart=on-failure
RestartSec=2
WatchdogSec=${o.watchdogSeconds}
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=${Math.ceil(o.drainSeconds) + 15}
Environment=NODE_ENV=production

[Install]
WantedBy=multi-user.target
`;
}
