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
  /**
   * Socket mode's listening sockets. When given (fixed ports), the unit is socket-activated: the
   * matching .socket unit ({@link systemdSocketUnit}) holds them, so they outlive a crashed
   * supervisor, and `KillMode=process` lets its workers serve on until the restarted one adopts them.
   */
  listen?: ReadonlyArray<{ name: string; host: string; port: number }> | undefined;
}

/** The name of the socket unit for `service` (same stem as the service unit, as systemd pairs them). */
export function socketUnitName(service: string): string {
  return `dancer-${service}.socket`;
}

const listenAddress = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** True when `listen` can be held by a .socket unit (at least one socket, every port fixed). */
export function canSocketActivate(listen: UnitOptions['listen']): boolean {
  return listen !== undefined && listen.length > 0 && listen.every((l) => l.port > 0);
}

/**
 * The .socket unit that holds the listening sockets for \`dancer run\` (pure): systemd binds them
 * once and passes them as fds 3.. (LISTEN_FDS, LISTEN_FDNAMES) to every start of the service,
 * so they outlive the supervisor. One socket is named after its listen entry; several are passed
 * in listen order.
 */
export function systemdSocketUnit(o: Pick<UnitOptions, 'service' | 'listen'>): string {
  const listen = o.listen ?? [];
  const only = listen.length === 1 ? listen[0] : undefined;
  return `[Unit]
Description=Listening sockets of ${o.service} (held for dancer run)

[Socket]
${listen.map((l) => `ListenStream=${listenAddress(l.host, l.port)}`).join('\n')}
${only ? `FileDescriptorName=${only.name}\n` : ''}Service=dancer-${o.service}.service
NoDelay=true

[Install]
WantedBy=sockets.target
`;
}

const quote = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/(["\\$`])/g, '\\$1')}"`);

/**
 * The unit text for `dancer init --systemd`: Type=notify (dancer run sends READY=1, STATUS= and
 * watchdog pings; NotifyAccess=all because a helper process sends the datagram), WatchdogSec,
 * Restart=on-failure. Socket-activated (see `listen`): Requires= the .socket unit and
 * KillMode=process (SIGTERM to the supervisor only, which drains its workers; a crash leaves them
 * serving for the restarted supervisor to adopt). Otherwise KillMode=mixed (SIGTERM to the
 * supervisor only; SIGKILL to whatever is left at the stop timeout, or at once after a crash).
 */
export function systemdUnit(o: UnitOptions): string {
  const exec = (cmd: string) => [o.node, o.dancerBin, cmd, '--config', o.configFile].map(quote).join(' ');
  const socket = canSocketActivate(o.listen) ? socketUnitName(o.service) : undefined;
  return `[Unit]
Description=Dancer supervisor for ${o.service}
Documentation=${pathToFileURL(path.join(path.dirname(path.dirname(o.dancerBin)), 'docs', 'operations.md')).href}
After=network-online.target${socket ? ` ${socket}` : ''}
Wants=network-online.target
${socket ? `Requires=${socket}\n` : ''}
[Service]
Type=notify
NotifyAccess=all
ExecStart=${exec('run')}
ExecReload=${exec('reload')}
WorkingDirectory=${quote(o.workingDirectory)}
${o.user ? `User=${o.user}\n` : ''}Restart=on-failure
RestartSec=2
WatchdogSec=${o.watchdogSeconds}
KillMode=${socket ? 'process' : 'mixed'}
KillSignal=SIGTERM
TimeoutStopSec=${Math.ceil(o.drainSeconds) + 15}
Environment=NODE_ENV=production

[Install]
WantedBy=multi-user.target
`;
}
