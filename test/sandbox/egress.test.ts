/**
 * The agent's egress: which endpoint it allows (pure), and the real Unix-socket server piping to
 * real TCP servers on 127.0.0.1, directly and through an upstream CONNECT proxy.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentBwrapArgv } from '../../src/sandbox/agent.js';
import {
  EGRESS_PORT,
  egressEnv,
  egressPlan,
  parseConnect,
  startEgress,
  upstreamProxy,
} from '../../src/sandbox/egress.js';

describe('egressPlan / egressEnv / parseConnect / upstreamProxy', () => {
  it('sends an http endpoint through the shim port, keeping its path', () => {
    const plan = egressPlan('http://127.0.0.1:4123/api/');
    expect(plan).toMatchObject({ mode: 'forward', host: '127.0.0.1', port: 4123 });
    expect(plan.env).toEqual({ ANTHROPIC_BASE_URL: `http://127.0.0.1:${EGRESS_PORT}/api` });
  });

  it('tunnels the Anthropic API (no base URL) and https endpoints with CONNECT', () => {
    expect(egressPlan(undefined)).toMatchObject({ mode: 'connect', host: 'api.anthropic.com', port: 443 });
    const plan = egressPlan('https://gw.example.com:8443');
    expect(plan).toMatchObject({ mode: 'connect', host: 'gw.example.com', port: 8443 });
    expect(plan.env.HTTPS_PROXY).toBe(`http://127.0.0.1:${EGRESS_PORT}`);
    expect(() => egressPlan('ftp://x')).toThrow(/unsupported/);
  });

  it("replaces Claude Code's proxy variables by the plan's", () => {
    const env = egressEnv(
      { PATH: '/bin', HTTPS_PROXY: 'http://corp:3128', NO_PROXY: 'api.anthropic.com', ANTHROPIC_API_KEY: 'k' },
      egressPlan(undefined),
    );
    expect(env.NO_PROXY).toBeUndefined();
    expect(env.HTTPS_PROXY).toBe(`http://127.0.0.1:${EGRESS_PORT}`);
    expect(env.ANTHROPIC_API_KEY).toBe('k');
  });

  it('parses CONNECT heads and nothing else', () => {
    expect(parseConnect('CONNECT Api.Anthropic.com:443 HTTP/1.1\r\nHost: x\r\n\r\n')).toEqual({
      host: 'api.anthropic.com',
      port: 443,
    });
    expect(parseConnect('CONNECT [::1]:8080 HTTP/1.0\r\n\r\n')).toEqual({ host: '::1', port: 8080 });
    expect(parseConnect('GET http://x/ HTTP/1.1\r\n\r\n')).toBeNull();
    expect(parseConnect('CONNECT host HTTP/1.1\r\n\r\n')).toBeNull();
    expect(parseConnect('CONNECT host:99999 HTTP/1.1\r\n\r\n')).toBeNull();
  });

  it("uses Dancer's HTTPS proxy unless NO_PROXY exempts the endpoint", () => {
    expect(upstreamProxy({ HTTPS_PROXY: 'http://corp:3128' }, 'api.anthropic.com')).toEqual({
      host: 'corp',
      port: 3128,
    });
    expect(upstreamProxy({ https_proxy: 'corp:8080', NO_PROXY: '.anthropic.com' }, 'api.anthropic.com')).toBeNull();
    expect(upstreamProxy({}, 'api.anthropic.com')).toBeNull();
  });

  it('runs the command in a network namespace, keeping capabilities only as root (nested sandboxes)', () => {
    const argv = agentBwrapArgv({
      bwrap: '/usr/bin/bwrap',
      root: true,
      node: '/n',
      socket: '/s',
      command: 'claude',
      args: ['-p'],
    });
    expect(argv).toContain('--unshare-net');
    expect(argv.join(' ')).toContain('--cap-add ALL');
    expect(argv.slice(-3)).toEqual([String(EGRESS_PORT), 'claude', '-p']);
    const user = agentBwrapArgv({ bwrap: 'bwrap', root: false, node: '/n', socket: '/s', command: 'claude', args: [] });
    expect(user).toContain('--unshare-user');
    expect(user).not.toContain('--cap-add');
  });
});

describe('startEgress (real sockets)', () => {
  let dir: string;
  let endpoint: net.Server;
  let other: net.Server;
  let otherHits = 0;
  let proxy: net.Server;
  const proxied: string[] = [];
  const port = (s: net.Server) => (s.address() as net.AddressInfo).port;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dancer-egress-test-'));
    endpoint = net.createServer((s) => s.on('data', (d) => s.write(`echo:${d}`)));
    other = net.createServer((s) => {
      otherHits++;
      s.destroy();
    });
    // A minimal CONNECT proxy standing for a corporate one.
    proxy = net.createServer((s) => {
      s.once('data', (d) => {
        const target = parseConnect(d.toString('latin1'));
        if (!target) return s.destroy();
        proxied.push(`${target.host}:${target.port}`);
        const out = net.connect(target.port, target.host, () => {
          s.write('HTTP/1.1 200 OK\r\n\r\n');
          s.pipe(out);
          out.pipe(s);
        });
      });
    });
    for (const s of [endpoint, other, proxy]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  });

  afterAll(() => {
    for (const s of [endpoint, other, proxy]) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Write `lines` on a connection to the egress socket; resolve with all it answers. */
  function talk(socket: string, lines: string[]): Promise<string> {
    return new Promise((resolve) => {
      const c = net.connect(socket);
      let got = '';
      c.on('data', (d) => {
        got += d;
        const next = lines.shift();
        if (next) c.write(next);
        else if (got.includes('echo:')) c.end();
      });
      c.on('connect', () => c.write(lines.shift() as string));
      c.on('close', () => resolve(got));
      c.on('error', () => resolve(got));
    });
  }

  it('forward: pipes every connection to the endpoint; the socket is for Dancer only', async () => {
    const socket = path.join(dir, 'f');
    const egress = await startEgress(socket, egressPlan(`http://127.0.0.1:${port(endpoint)}`), {});
    try {
      expect(statSync(socket).mode & 0o077).toBe(0);
      expect(await talk(socket, ['hello'])).toBe('echo:hello');
      expect(egress.forwarded).toBe(1);
    } finally {
      await egress.close();
    }
  });

  it('connect: tunnels to the endpoint only; other targets and plain requests get 403', async () => {
    const socket = path.join(dir, 'c');
    const plan = { ...egressPlan(`https://127.0.0.1:${port(endpoint)}`) };
    const egress = await startEgress(socket, plan, {});
    try {
      const ok = await talk(socket, [`CONNECT 127.0.0.1:${port(endpoint)} HTTP/1.1\r\nHost: a\r\n\r\n`, 'tls-bytes']);
      expect(ok).toBe('HTTP/1.1 200 Connection Established\r\n\r\necho:tls-bytes');
      const refused = await talk(socket, [`CONNECT 127.0.0.1:${port(other)} HTTP/1.1\r\n\r\n`]);
      expect(refused).toMatch(/^HTTP\/1\.1 403/);
      const plain = await talk(socket, [`GET http://127.0.0.1:${port(other)}/ HTTP/1.1\r\n\r\n`]);
      expect(plain).toMatch(/^HTTP\/1\.1 403/);
      expect(otherHits).toBe(0);
      expect(egress.refused).toEqual([`127.0.0.1:${port(other)}`, '?']);
      expect(egress.forwarded).toBe(1);
    } finally {
      await egress.close();
    }
  });

  it("connect: goes through Dancer's own HTTPS proxy when it has one", async () => {
    const socket = path.join(dir, 'p');
    const egress = await startEgress(socket, egressPlan(`https://127.0.0.1:${port(endpoint)}`), {
      HTTPS_PROXY: `http://127.0.0.1:${port(proxy)}`,
    });
    try {
      const ok = await talk(socket, [`CONNECT 127.0.0.1:${port(endpoint)} HTTP/1.1\r\n\r\n`, 'x']);
      expect(ok).toBe('HTTP/1.1 200 Connection Established\r\n\r\necho:x');
      expect(proxied).toEqual([`127.0.0.1:${port(endpoint)}`]);
    } finally {
      await egress.close();
    }
  });
});
