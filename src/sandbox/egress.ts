/**
 * The agent's only way out: Claude Code runs in a network namespace of its own (no interface but
 * loopback), and a shim inside it forwards one loopback port to a Unix socket that Dancer serves
 * from outside. Dancer connects what arrives there to the model endpoint and nowhere else:
 *
 * - `forward` (an `http://` endpoint, e.g. the scripted model server): every connection is piped
 *   to the endpoint's host:port; Claude Code is told the endpoint is the shim's port.
 * - `connect` (an `https://` endpoint, by default api.anthropic.com:443): Claude Code uses the
 *   shim as its HTTPS proxy; Dancer accepts `CONNECT host:port` for the endpoint only (TLS stays
 *   end to end, so certificates are checked as usual) and answers 403 to anything else. When
 *   Dancer's own environment names an HTTPS proxy, the tunnel goes through it.
 */
import { chmodSync } from 'node:fs';
import net from 'node:net';

/** The loopback port the shim listens on inside the agent's network namespace (it is private, so fixed). */
export const EGRESS_PORT = 47_100;

/** How the agent reaches the model endpoint. */
export interface EgressPlan {
  mode: 'forward' | 'connect';
  /** The only host and port the egress connects to. */
  host: string;
  port: number;
  /** Variables Claude Code gets inside the namespace (base URL or proxy), replacing its own. */
  env: Record<string, string>;
}

const PROXY_VARS = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', 'ALL_PROXY'];

/** The egress for a model endpoint (`baseUrl` unset: the Anthropic API). Pure. */
export function egressPlan(baseUrl: string | undefined): EgressPlan {
  const url = new URL(baseUrl ?? 'https://api.anthropic.com');
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') throw new Error(`unsupported model endpoint ${url.protocol}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (secure ? 443 : 80));
  const inner = `http://127.0.0.1:${EGRESS_PORT}`;
  if (!secure) {
    const pathname = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
    return { mode: 'forward', host, port, env: { ANTHROPIC_BASE_URL: `${inner}${pathname}` } };
  }
  return {
    mode: 'connect',
    host,
    port,
    env: { HTTPS_PROXY: inner, https_proxy: inner, HTTP_PROXY: inner, http_proxy: inner },
  };
}

/** Apply `plan` to Claude Code's environment: its proxy variables replaced by the plan's. Pure. */
export function egressEnv(env: Record<string, string | undefined>, plan: EgressPlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !PROXY_VARS.includes(k)) out[k] = v;
  return { ...out, ...plan.env };
}

/** The target of a `CONNECT host:port HTTP/1.x` request head, or null when it is not one. Pure. */
export function parseConnect(head: string): { host: string; port: number } | null {
  const m = /^CONNECT (\S+) HTTP\/1\.[01]\r?\n/.exec(head);
  if (!m?.[1]) return null;
  const target = m[1];
  const colon = target.lastIndexOf(':');
  if (colon <= 0) return null;
  const port = Number(target.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) return null;
  return {
    host: target
      .slice(0, colon)
      .replace(/^\[(.*)\]$/, '$1')
      .toLowerCase(),
    port,
  };
}

/** The HTTPS proxy Dancer itself must use for `host`, from its environment (null: direct). Pure. */
export function upstreamProxy(env: NodeJS.ProcessEnv, host: string): { host: string; port: number } | null {
  const raw = env.HTTPS_PROXY ?? env.https_proxy;
  if (!raw) return null;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(',').map((s) => s.trim().toLowerCase());
  if (
    noProxy.some(
      (n) => n === '*' || (n && (host === n.replace(/^\./, '') || host.endsWith(`.${n.replace(/^\./, '')}`))),
    )
  )
    return null;
  const url = new URL(raw.includes('://') ? raw : `http://${raw}`);
  return { host: url.hostname, port: Number(url.port || 80) };
}

/** A running egress. */
export interface Egress {
  readonly plan: EgressPlan;
  /** Connections piped to the endpoint. */
  readonly forwarded: number;
  /** `host:port` targets refused (and requests that were not a CONNECT, as `?`). */
  readonly refused: readonly string[];
  close(): Promise<void>;
}

const HEAD_LIMIT = 8192;

/** Connect to `host:port`, through `proxy` (a CONNECT tunnel) when given. */
function dial(host: string, port: number, proxy: { host: string; port: number } | null): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(proxy ? { host: proxy.host, port: proxy.port } : { host, port });
    s.once('error', reject);
    s.once('connect', () => {
      if (!proxy) {
        s.removeListener('error', reject);
        resolve(s);
        return;
      }
      s.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
      let buf = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > HEAD_LIMIT) s.destroy(new Error('proxy answer too long'));
          return;
        }
        s.removeListener('data', onData);
        s.removeListener('error', reject);
        if (!/^HTTP\/1\.[01] 200/.test(buf.toString('latin1'))) {
          s.destroy();
          reject(new Error(`the upstream proxy refused ${host}:${port}`));
          return;
        }
        const rest = buf.subarray(end + 4);
        if (rest.length) s.unshift(rest);
        resolve(s);
      };
      s.on('data', onData);
    });
  });
}

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

/**
 * Serve `plan` on the Unix socket `socketPath` (mode 0600: only Dancer's uid can connect).
 * `env` is Dancer's environment (for an upstream HTTPS proxy).
 */
export async function startEgress(
  socketPath: string,
  plan: EgressPlan,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Egress> {
  let forwarded = 0;
  const refused: string[] = [];
  const proxy = plan.mode === 'connect' ? upstreamProxy(env, plan.host) : null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inner) => {
    sockets.add(inner);
    inner.on('close', () => sockets.delete(inner));
    inner.on('error', () => inner.destroy());
    if (plan.mode === 'forward') {
      dial(plan.host, plan.port, null).then(
        (out) => {
          forwarded++;
          sockets.add(out);
          pipeBoth(inner, out);
        },
        () => inner.destroy(),
      );
      return;
    }
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length <= HEAD_LIMIT) return;
      inner.removeListener('data', onData);
      inner.pause();
      const target = end < 0 ? null : parseConnect(head.toString('latin1'));
      if (!target || target.host !== plan.host.toLowerCase() || target.port !== plan.port) {
        refused.push(target ? `${target.host}:${target.port}` : '?');
        inner.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      dial(plan.host, plan.port, proxy).then(
        (out) => {
          forwarded++;
          sockets.add(out);
          inner.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          const rest = head.subarray(end + 4);
          if (rest.length) out.write(rest);
          pipeBoth(inner, out);
          inner.resume();
        },
        () => inner.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'),
      );
    };
    inner.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.removeListener('error', reject);
      chmodSync(socketPath, 0o600);
      resolve();
    });
  });
  return {
    plan,
    get forwarded() {
      return forwarded;
    },
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
