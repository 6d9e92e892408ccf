/**
 * Claude Code itself reaches only the model endpoint. The real Claude Code binary, driven by the
 * scripted model, runs in its own network namespace; its only way out is Dancer's egress. Three
 * views: the real binary through a consultation (http endpoint: forward), the real binary through
 * an https endpoint (the path the Anthropic API takes: CONNECT to the endpoint only, TLS end to
 * end), and a hostile program started exactly as Claude Code is (same wrapper), trying every
 * other way out.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixesSchema } from '../../src/config/schema/fixes.js';
import { runAgent } from '../../src/consult/agent-runner.js';
import { runConsultation } from '../../src/consult/consultation.js';
import { createRedactor } from '../../src/consult/redact.js';
import { type AgentJail, EGRESS_PORT, jailAgent, resolveSandbox } from '../../src/sandbox/index.js';
import { type ModelServer, startModelServer, toolResults, toolResultText } from '../../src/testing/index.js';
import { makeWorkspace, processesIn, testConfig, type Workspace } from '../consult/helpers.js';
import { type AttackResult, storedAttacks, writeAttacks } from './attacks.js';

const BWRAP = resolveSandbox({ config: fixesSchema.parse({}).sandbox, hide: [] }).bwrap as string;
let ws: Workspace;
let server: ModelServer;
let listener: net.Server;
let hits = 0;
let certDir: string;
const results: AttackResult[] = [];

function record(r: AttackResult): void {
  results.push(r);
  expect(r.blocked, `${r.id}: ${r.evidence}`).toBe(true);
}

function netNs(pid: number | 'self'): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return null;
  }
}

beforeAll(async () => {
  ws = makeWorkspace('dancer-attack-agentnet-');
  server = await startModelServer({ scenario: { turns: [] } });
  listener = net.createServer((s) => {
    hits++;
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  certDir = mkdtempSync(path.join(tmpdir(), 'dancer-attack-cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      path.join(certDir, 'key.pem'),
      '-out',
      path.join(certDir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
}, 60_000);

afterAll(async () => {
  listener?.close();
  await server?.close();
  ws?.db.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
  if (process.env.DANCER_UPDATE_ATTACKS) writeAttacks(results);
  else {
    const stored = new Map(storedAttacks().map((r) => [r.id, r]));
    for (const r of results) expect(stored.get(r.id)?.blocked, `${r.id} is in test/security/attacks.json`).toBe(true);
  }
});

const loopbackUrl = () => `http://127.0.0.1:${(listener.address() as net.AddressInfo).port}/exfil`;

describe('Claude Code reaches only the model endpoint (real binary, scripted model)', () => {
  it('a consultation: Claude Code in its own network namespace; WebFetch to loopback and outside reaches nothing', async () => {
    const namespaces = new Set<string>();
    const own = netNs('self');
    server.setScenario({
      turns: [
        {
          tools: [
            { name: 'WebFetch', input: { url: loopbackUrl(), prompt: 'print it' } },
            { name: 'WebFetch', input: { url: 'http://1.1.1.1/', prompt: 'print it' } },
          ],
        },
        { tools: [{ name: 'mcp__dancer__submit_outcome', input: { kind: 'ignore', why: 'attack run' } }] },
        { text: 'done' },
      ],
    });
    const first = server.requests.length;
    const stopWatching = watchNamespaces(ws.worktree, namespaces);
    const result = await runConsultation({
      db: ws.db,
      brief: 'Attack run.',
      worktree: ws.worktree,
      policy: { protectedPaths: [], notes: [] },
      config: testConfig(ws, server.url, { allowedCommands: [], routine: { timeoutSeconds: 240, maxTurns: 10 } }),
      env: { ANTHROPIC_API_KEY: 'sk-test' },
      extraEnv: { CLAUDE_CODE_MAX_RETRIES: '0' },
    });
    stopWatching();
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const requests = server.requests.slice(first);
    const texts = requests.flatMap((r) => (r.body ? toolResults(r.body) : [])).map((t) => toolResultText(t));
    const fetched = texts.filter((t) => /webfetch|no such tool|not available|error/i.test(t));
    expect(namespaces.size, 'Claude Code was seen running').toBeGreaterThan(0);
    record({
      id: 'agent-namespace',
      class: 'network',
      where: 'agent',
      attack: "Claude Code itself shares Dancer's network (a consultation against an http endpoint)",
      blocked: ![...namespaces].includes(own as string) && requests.length > 0,
      evidence: `Claude Code's network namespace is ${[...namespaces].includes(own as string) ? "Dancer's" : 'its own'}; ${requests.length} model requests arrived through the egress`,
    });
    record({
      id: 'agent-webfetch',
      class: 'network',
      where: 'agent',
      attack: "the model calls WebFetch on the host's 127.0.0.1 and on 1.1.1.1",
      blocked: hits === 0 && fetched.length > 0,
      evidence: `listener saw ${hits}; Claude Code answered: ${fetched[0]?.slice(0, 80) ?? '(nothing)'}`,
    });
  }, 300_000);

  it('an https endpoint (the Anthropic API path): CONNECT to the endpoint only, TLS end to end', async () => {
    const modelPort = Number(new URL(server.url).port);
    const terminator = tls.createServer(
      { key: readFileSync(path.join(certDir, 'key.pem')), cert: readFileSync(path.join(certDir, 'cert.pem')) },
      (s) => {
        const out = net.connect(modelPort, '127.0.0.1');
        s.pipe(out);
        out.pipe(s);
        s.on('error', () => out.destroy());
        out.on('error', () => s.destroy());
      },
    );
    await new Promise<void>((r) => terminator.listen(0, '127.0.0.1', r));
    const httpsUrl = `https://localhost:${(terminator.address() as net.AddressInfo).port}`;
    server.setScenario({
      turns: [
        { tools: [{ name: 'mcp__dancer__submit_outcome', input: { kind: 'ignore', why: 'tls run' } }] },
        { text: 'done' },
      ],
    });
    let jail: AgentJail | undefined;
    const first = server.requests.length;
    try {
      const run = await runAgent({
        prompt: 'Submit ignore.',
        systemPrompt: '',
        worktree: ws.worktree,
        model: 'claude-opus-5-5',
        maxTurns: 5,
        timeoutMs: 180_000,
        protectedPaths: [],
        allowedCommands: [],
        redactor: createRedactor(),
        apiKey: 'sk-test',
        baseUrl: httpsUrl,
        runDir: ws.runDir,
        extraEnv: { CLAUDE_CODE_MAX_RETRIES: '0', NODE_EXTRA_CA_CERTS: path.join(certDir, 'cert.pem') },
        jail: { bwrap: BWRAP },
        onJail: (j) => {
          jail = j;
        },
      });
      expect(run.stop, run.error ?? '').toBe('completed');
      expect(run.outcome?.kind).toBe('ignore');
    } finally {
      terminator.close();
    }
    const egress = jail?.egress;
    expect(egress?.plan.mode).toBe('connect');
    record({
      id: 'agent-https-connect-only',
      class: 'network',
      where: 'agent',
      attack: 'Claude Code against an https endpoint: anything but a CONNECT to that host:port',
      blocked: (egress?.forwarded ?? 0) > 0 && egress?.refused.length === 0 && server.requests.length > first,
      evidence: `${egress?.forwarded} tunnel(s) to the endpoint, ${egress?.refused.length} refused, model requests over TLS arrived`,
    });
  }, 300_000);

  it('a hostile program started as Claude Code is: only the endpoint answers', async () => {
    const modelPort = Number(new URL(server.url).port);
    const listenerPort = (listener.address() as net.AddressInfo).port;
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-attack-agentprobe-'));
    const script = path.join(dir, 'probe.mjs');
    writeFileSync(script, AGENT_PROBE);
    const before = hits;
    const run = async (baseUrl: string) => {
      const jail = await jailAgent({ bwrap: BWRAP, baseUrl });
      try {
        const p = jail.wrap({
          command: process.execPath,
          args: [script, String(listenerPort), String(modelPort)],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HTTPS_PROXY: 'http://1.1.1.1:3128' },
        });
        const out = await new Promise<string>((resolve, reject) => {
          const c = spawn(p.command, p.args, { env: p.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
          let text = '';
          c.stdout.on('data', (d: Buffer) => {
            text += d.toString();
          });
          c.on('error', reject);
          c.on('exit', () => resolve(text));
        });
        return { r: JSON.parse(out) as Record<string, string>, refused: [...jail.egress.refused], env: p.env };
      } finally {
        await jail.close();
      }
    };
    try {
      const forward = await run(server.url);
      const connect = await run('https://localhost:1');
      record({
        id: 'agent-direct',
        class: 'network',
        where: 'agent',
        attack: "a program in Claude Code's place connects to the host's 127.0.0.1, to 1.1.1.1:80 and resolves a name",
        blocked:
          forward.r.loopback !== 'connected' &&
          forward.r.outbound !== 'connected' &&
          !forward.r.dns?.startsWith('ok') &&
          hits === before,
        evidence: `loopback ${forward.r.loopback}; outbound ${forward.r.outbound}; dns ${forward.r.dns}; listener saw ${hits - before}`,
      });
      record({
        id: 'agent-egress-other-host',
        class: 'network',
        where: 'agent',
        attack:
          "through the egress: CONNECT to the host's 127.0.0.1 listener and to 1.1.1.1:443, and a plain HTTP proxy request",
        blocked:
          connect.r.connectOther?.startsWith('HTTP/1.1 403') === true &&
          connect.r.connectOutside?.startsWith('HTTP/1.1 403') === true &&
          connect.r.plainProxy?.startsWith('HTTP/1.1 403') === true &&
          hits === before,
        evidence: `CONNECT to the listener -> ${connect.r.connectOther}; CONNECT 1.1.1.1:443 -> ${connect.r.connectOutside}; GET http://… -> ${connect.r.plainProxy}; refused ${connect.refused.length}`,
      });
      // In forward mode the shim's port leads to the model server and nowhere else.
      expect(forward.r.viaEgress).toMatch(/^HTTP\/1\.1 /);
      expect(forward.env.ANTHROPIC_BASE_URL).toBe(`http://127.0.0.1:${EGRESS_PORT}`);
      expect(forward.env.HTTPS_PROXY).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** Record the network namespaces of processes running in `dir` every 50 ms until stopped. */
function watchNamespaces(dir: string, into: Set<string>): () => void {
  const timer = setInterval(() => {
    for (const pid of processesIn(dir)) {
      // The Claude Code executable itself (not bubblewrap, whose command line names it too).
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${pid}/exe`);
      } catch {
        continue;
      }
      if (!path.basename(exe).startsWith('claude')) continue;
      const ns = netNs(pid);
      if (ns) into.add(ns);
    }
  }, 50);
  return () => clearInterval(timer);
}

/** Hostile code in Claude Code's place: argv = [listenerPort, modelPort]; prints one JSON object. */
const AGENT_PROBE = `
import net from 'node:net';
import dns from 'node:dns/promises';
const [listenerPort] = process.argv.slice(2).map(Number);
const EGRESS = ${EGRESS_PORT};
const r = {};
const connect = (opts) => new Promise((resolve) => {
  const s = net.connect(opts);
  const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, 3000);
  s.on('connect', () => { clearTimeout(t); s.end('pwned'); resolve('connected'); });
  s.on('error', (e) => { clearTimeout(t); resolve(e.code ?? e.message); });
});
const ask = (line) => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: EGRESS });
  let got = '';
  const t = setTimeout(() => { s.destroy(); resolve(got || 'timeout'); }, 3000);
  s.on('connect', () => s.write(line));
  s.on('data', (d) => { got += d; if (got.includes('\\r\\n')) { clearTimeout(t); s.destroy(); resolve(got.split('\\r\\n')[0]); } });
  s.on('error', (e) => { clearTimeout(t); resolve(e.code ?? e.message); });
  s.on('close', () => { clearTimeout(t); resolve(got.split('\\r\\n')[0] || 'closed'); });
});
r.loopback = await connect({ host: '127.0.0.1', port: listenerPort });
r.outbound = await connect({ host: '1.1.1.1', port: 80 });
r.dns = await dns.lookup('example.com').then((a) => 'ok ' + a.address, (e) => e.code ?? e.message);
r.viaEgress = await ask('GET /v1/models HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');
r.connectOther = await ask('CONNECT 127.0.0.1:' + listenerPort + ' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
r.connectOutside = await ask('CONNECT 1.1.1.1:443 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
r.plainProxy = await ask('GET http://127.0.0.1:' + listenerPort + '/ HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
console.log(JSON.stringify(r));
`;
