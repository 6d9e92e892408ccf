/**
 * The self-healing demo, end to end: a checkout service with a latent bug runs under
 * `dancer run`, with steady traffic. Act one: the bug's errors are detected, Claude Code writes a
 * fix in a worktree, the gate and the policy pass it, it deploys with no dropped request and the
 * observation window confirms it. Act two: a plausible but bad fix raises the error rate and is
 * rolled back automatically. Only the model's words are scripted (unless ANTHROPIC_API_KEY is set).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import { createZulipTestServer, type ModelServer, startModelServer, type ZulipTestServer } from '../testing/index.js';
import { prepareDemoRepo } from './repo.js';
import { badFixScenario, goodFixScenario } from './scenarios.js';
import { type DemoMilestones, type DemoSummary, splitServerErrors, timings } from './summary.js';
import { freePort, isListening, startTraffic, type TrafficRequest } from './traffic.js';
import { narrate, StoreWatcher, type StoryEvent } from './watch.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Progress lines (the story). Default: stderr. */
  say?: (line: string) => void;
  /** Observation window after each deploy, seconds. Default 8. */
  windowSeconds?: number;
  /** Use real Claude (needs ANTHROPIC_API_KEY). Default: when ANTHROPIC_API_KEY is set. */
  realClaude?: boolean;
  /** Seconds each act may take before the demo gives up. Default 180. */
  actTimeoutSeconds?: number;
  /** Approve fixes by a command from an allow-listed user through the Zulip test server. */
  zulip?: boolean;
  /** Parent folder of the demo repository. Default: a new temp folder. */
  root?: string;
  env?: NodeJS.ProcessEnv;
}

const DANCER_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Ordinary traffic with a share of lower-case coupons (the latent bug) and, in act two, EUR orders. */
function trafficMix(options: { eur: boolean }) {
  return (i: number): TrafficRequest => {
    if (i % 25 === 0) return { method: 'GET', path: '/healthz', kind: 'health' };
    const items = [{ sku: `sku-${i % 7}`, qty: 1 + (i % 3), priceCents: 250 + (i % 5) * 100 }];
    if (i % 10 === 3)
      return { method: 'POST', path: '/checkout', body: { items, coupon: 'save10' }, kind: 'coupon-lower' };
    if (options.eur && i % 10 === 6)
      return { method: 'POST', path: '/checkout', body: { items, currency: 'EUR' }, kind: 'eur' };
    if (i % 10 === 8) return { method: 'POST', path: '/checkout', body: { items, coupon: 'SAVE10' }, kind: 'coupon' };
    return { method: 'POST', path: '/checkout', body: { items }, kind: 'plain' };
  };
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Wait for the bot's approval request for `fixId`, then approve it as the allow-listed operator. */
async function approveOnZulip(server: ZulipTestServer, fixId: number): Promise<string> {
  const botId = server.user('dancer-bot@demo.test').user_id;
  const request = await server.waitForMessage(
    (m) => m.sender_id === botId && m.topic.startsWith(`fix ${fixId}`) && /approv/i.test(m.content),
    60_000,
  );
  server.sendMessage('alice@demo.test', {
    stream: 'dancer',
    topic: request.topic,
    content: `@**Dancer** approve ${fixId}`,
  });
  return request.topic;
}

/** Run both acts and return the summary. Never throws for a failed act: the summary says where. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = options.env ?? process.env;
  const realClaude = options.realClaude ?? Boolean(env.ANTHROPIC_API_KEY);
  const windowSeconds = options.windowSeconds ?? 8;
  const actMs = (options.actTimeoutSeconds ?? 180) * 1000;
  const root = options.root ?? mkdtempSync(path.join(tmpdir(), 'dancer-demo-'));
  const t0 = Date.now();
  const stamp = (at = Date.now()) => `[${((at - t0) / 1000).toFixed(1).padStart(5)} s]`;
  const tell = (line: string, at?: number) => say(`${stamp(at)} ${line}`);

  say(
    realClaude
      ? 'Dancer demo with REAL Claude (ANTHROPIC_API_KEY is set): costs real money, and act two needs a bad fix, so it is skipped.'
      : "Dancer demo, OFFLINE: a scripted model server stands in for Claude. The real Claude Code binary runs, with real tools, in real git worktrees; only the model's words are scripted.",
  );

  let model: ModelServer | undefined;
  let zulip: ZulipTestServer | undefined;
  let zulipKey: string | undefined;
  let supervisor: ChildProcess | undefined;
  let watcher: StoreWatcher | undefined;
  let traffic: ReturnType<typeof startTraffic> | undefined;
  const m: DemoMilestones = {};
  let failure: string | undefined;
  let rollbackReason: string | null = null;
  let errorsAfterFix: number | null = null;
  let repoPath = root;
  let changelog: string | null = null;
  const events: StoryEvent[] = [];
  let final: Awaited<ReturnType<ReturnType<typeof startTraffic>['stop']>> | undefined;
  let cost = 0;
  let zulipMessages: number | null = null;

  try {
    if (!realClaude) {
      model = await startModelServer({
        scenario: goodFixScenario(),
        recordFile: path.join(root, 'model-requests.jsonl'),
      });
    }
    if (options.zulip) {
      zulip = await createZulipTestServer({
        streams: ['dancer'],
        users: [
          { email: 'dancer-bot@demo.test', fullName: 'Dancer', isBot: true },
          { email: 'alice@demo.test', fullName: 'Alice Operator' },
        ],
        heartbeatMs: 5000,
      });
      zulipKey = zulip.user('dancer-bot@demo.test').api_key;
      tell(`Zulip test server on ${zulip.url}: fixes wait for alice@demo.test to approve them there`);
    }
    const port = await freePort();
    const repo = prepareDemoRepo({
      zulip: zulip && {
        site: zulip.url,
        email: 'dancer-bot@demo.test',
        apiKeyEnv: 'DEMO_ZULIP_API_KEY',
        stream: 'dancer',
        allow: ['alice@demo.test'],
      },
      root,
      dancerRoot: DANCER_ROOT,
      port,
      windowSeconds,
      modelBaseUrl: model?.url,
    });
    repoPath = repo.repo;
    tell(`service repository: ${repo.repo} (git, with examples/checkout and a dancer.yaml)`);

    const logFile = path.join(root, 'supervisor.log');
    const log = createWriteStream(logFile);
    supervisor = spawn(
      process.execPath,
      [path.join(DANCER_ROOT, 'bin', 'dancer.js'), 'run', '--config', repo.configFile],
      {
        cwd: repo.repo,
        env: {
          ...env,
          NO_COLOR: '1',
          ...(realClaude ? {} : { ANTHROPIC_API_KEY: 'sk-scripted-demo-key', ANTHROPIC_BASE_URL: model?.url }),
          ...(zulipKey ? { DEMO_ZULIP_API_KEY: zulipKey } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    supervisor.stdout?.pipe(log);
    supervisor.stderr?.pipe(log);
    tell(`dancer run started (pid ${supervisor.pid}); supervisor output: ${logFile}`);

    const readyDeadline = Date.now() + 60_000;
    while (!(await isListening(port))) {
      if (supervisor.exitCode !== null)
        throw new Error(`dancer run exited with ${supervisor.exitCode}; see ${logFile}`);
      if (Date.now() > readyDeadline) throw new Error(`the service did not listen on ${port}; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    tell(`checkout service is serving on 127.0.0.1:${port}; sending steady traffic (40 req/s, keep-alive)`);

    watcher = new StoreWatcher(repo.dbPath);
    const approved = new Set<number>();
    const pump = () => {
      for (const event of watcher?.poll() ?? []) {
        events.push(event);
        tell(narrate(event), event.at);
        if (zulip && event.type === 'fix' && event.to === 'awaiting_approval' && !approved.has(event.fixId)) {
          approved.add(event.fixId);
          void approveOnZulip(zulip, event.fixId).then(
            (topic) => tell(`alice@demo.test on Zulip, in topic "${topic}": @**Dancer** approve ${event.fixId}`),
            (error) => tell(`Zulip approval failed: ${errorMessage(error)}`),
          );
        }
      }
    };
    traffic = startTraffic({ port, ratePerSecond: 40, next: trafficMix({ eur: false }) });

    // Act one.
    say('\nAct one: a latent bug (lower-case coupon codes crash the handler)');
    const fixEvent = (fixId: number | undefined, to: string) =>
      events.find((e) => e.type === 'fix' && (fixId === undefined || e.fixId === fixId) && e.to === to) as
        | Extract<StoryEvent, { type: 'fix' }>
        | undefined;
    const firstFix = await waitFor('the pattern to be detected and a fix to start', actMs, () => {
      pump();
      return fixEvent(undefined, 'proposed');
    });
    m.firstErrorAt = traffic.stats().firstServerErrorAt;
    m.detectedAt = events.find((e) => e.type === 'decision')?.at;
    const fixId = firstFix.fixId;
    const terminal = ['deployed', 'failed', 'rejected', 'rolled_back', 'superseded'];
    const actOneEnd = await waitFor(`fix ${fixId} to be deployed and confirmed`, actMs, () => {
      pump();
      return events.find(
        (e): e is Extract<StoryEvent, { type: 'fix' }> =>
          e.type === 'fix' && e.fixId === fixId && terminal.includes(e.to),
      );
    });
    m.fixReadyAt = (fixEvent(fixId, 'awaiting_approval') ?? fixEvent(fixId, 'approved'))?.at;
    m.liveAt = fixEvent(fixId, 'observing')?.at;
    if (actOneEnd.to !== 'deployed')
      throw new Error(`act one: fix ${fixId} ended ${actOneEnd.to}: ${actOneEnd.reason}`);
    m.confirmedAt = actOneEnd.at;
    const afterLive = traffic.stats().serverErrorsByKind['coupon-lower'] ?? 0;
    // The fix is live: lower-case coupons now succeed. Count the pattern's errors from here on.
    await new Promise((r) => setTimeout(r, 2000));
    errorsAfterFix = (traffic.stats().serverErrorsByKind['coupon-lower'] ?? 0) - afterLive;
    tell(`act one done: fix ${fixId} deployed; lower-case coupon errors in the last 2 s: ${errorsAfterFix}`);

    // Act two.
    if (!realClaude && model) {
      say('\nAct two: EUR orders are refused; the next "fix" is plausible, passes its tests, and breaks the service');
      model.setScenario(badFixScenario());
      traffic.setNext(trafficMix({ eur: true }));
      const second = await waitFor('a second fix to start', actMs, () => {
        pump();
        return events.find(
          (e): e is Extract<StoryEvent, { type: 'fix' }> =>
            e.type === 'fix' && e.fixId !== fixId && e.to === 'proposed',
        );
      });
      const end = await waitFor(`fix ${second.fixId} to finish`, actMs, () => {
        pump();
        return events.find(
          (e): e is Extract<StoryEvent, { type: 'fix' }> =>
            e.type === 'fix' && e.fixId === second.fixId && terminal.includes(e.to),
        );
      });
      m.badFixLiveAt = fixEvent(second.fixId, 'observing')?.at;
      if (end.to !== 'rolled_back')
        throw new Error(`act two: the bad fix ${second.fixId} ended ${end.to}, not rolled_back`);
      m.rolledBackAt = end.at;
      rollbackReason = end.reason;
      const rollbackDeploy = events.find(
        (e): e is Extract<StoryEvent, { type: 'deploy' }> =>
          e.type === 'deploy' && e.kind === 'rollback' && e.status === 'succeeded',
      );
      if (rollbackDeploy) m.rolledBackAt = Math.min(m.rolledBackAt, rollbackDeploy.at);
      tell(`act two done: the bad fix was rolled back (${end.reason.split('\n')[0]})`);
    }

    // Keep serving a little past the rollback (3 s after it), so the traffic shows what answers
    // once the handoff is over, not only the moment of the switch.
    const settle = m.rolledBackAt === undefined ? 1000 : Math.max(1000, m.rolledBackAt + 3000 - Date.now());
    await new Promise((r) => setTimeout(r, settle));
    pump();
    changelog = path.join(repo.repo, 'CHANGELOG.md');
    execFileSync(
      process.execPath,
      [path.join(DANCER_ROOT, 'bin', 'dancer.js'), 'changelog', '--config', repo.configFile, '--output', changelog],
      {
        cwd: repo.repo,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...env, NO_COLOR: '1' },
      },
    );
    tell(`changelog written: ${changelog}`);
  } catch (error) {
    failure = errorMessage(error);
    say(`demo failed: ${failure}`);
  } finally {
    final = traffic ? await traffic.stop() : undefined;
    if (supervisor && supervisor.exitCode === null) {
      supervisor.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => supervisor?.kill('SIGKILL'), 15_000);
        supervisor?.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    cost = watcher?.costUsd() ?? 0;
    watcher?.close();
    await model?.close();
    zulipMessages = zulip?.messages.length ?? null;
    await zulip?.close();
  }
  return {
    outcome:
      failure === undefined && (realClaude || m.rolledBackAt !== undefined) && m.confirmedAt !== undefined
        ? 'healed'
        : 'failed',
    failure,
    model: realClaude ? 'claude' : 'scripted',
    ...timings(m),
    failedRequests: final?.failed ?? 0,
    requests: final?.sent ?? 0,
    ...splitServerErrors(final?.serverErrorsByKind ?? {}),
    errorsAfterFix,
    rolledBack: m.rolledBackAt !== undefined,
    rollbackReason,
    costUsd: cost,
    repo: repoPath,
    changelog,
    zulipMessages,
  };
}
