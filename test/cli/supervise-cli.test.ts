import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNotifyReceiver, type NotifyMessage } from '../../src/supervise/notify.js';
import { isAlive } from '../../src/supervise/proc.js';
import { expectGone, FIXTURES, get, makeServiceDir, waitFor } from '../supervise/helpers.js';
import { BIN, dancer, gitIn, type Running, startRun, statusOf } from './dancer-cli.js';

const LISTEN = path.resolve(import.meta.dirname, '../../dist/supervise/listen.js');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function track(run: Running, dir: string) {
  const pids = new Set<number>();
  cleanups.push(async () => {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGTERM');
      await run.exit;
    }
    await expectGone([...pids, run.child.pid!]);
    rmSync(dir, { recursive: true, force: true });
  });
  return pids;
}

// Every CLI call starts a Node process that loads the whole CLI: slow on a loaded machine.
describe('dancer run / status / reload / stop / resume (built CLI, real processes)', { timeout: 120_000 }, () => {
  it('runs the service; status and reload work from another process; SIGTERM drains and exits 0', async () => {
    const dir = makeServiceDir({
      start: `node ${path.join(FIXTURES, 'http.mjs')}`,
      metrics: { sampleSeconds: 0.2, port: 0 },
    });
    const config = path.join(dir, 'dancer.yaml');
    const receiver = await createNotifyReceiver(path.join(dir, 'systemd-notify.sock'));
    cleanups.push(() => receiver.close());
    const messages: NotifyMessage[] = [];
    receiver.events.on('message', (m: NotifyMessage) => messages.push(m));
    const run = startRun(config, { NOTIFY_SOCKET: receiver.path });
    const pids = track(run, dir);
    const status = await waitFor(
      async () => {
        const s = await statusOf(config).catch(() => undefined);
        return s?.state === 'running' ? s : undefined;
      },
      15_000,
      'running',
    );
    expect(status.running).toBe(true);
    expect(status.supervisorPid).toBe(run.child.pid);
    expect(status.emergencyStop.engaged).toBe(false);
    for (const p of status.pids) pids.add(p);
    // systemd: READY=1 with a STATUS
    await waitFor(() => messages.find((m) => m.fields.READY === '1'), 10_000, 'READY=1');
    // the control socket is owner-only
    const sock = path.join(dir, '.dancer/svc/control.sock');
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(sock)).mode & 0o777).toBe(0o700);
    // human status
    const human = dancer(['status', '--config', config]);
    expect(human.stdout).toMatch(/^svc: running/);
    // Who runs as what, said plainly: status (human and JSON) and dancer run's start line.
    const root = process.getuid?.() === 0;
    expect(human.stdout).toMatch(root ? /gate: +bubblewrap, uid 65534 \(nobody\)/ : /gate: +bubblewrap, uid \d+/);
    expect(human.stdout).toMatch(root ? /service: +uid 0 \(root\)/ : /service: +uid \d+/);
    const json = JSON.parse(dancer(['status', '--config', config, '--json']).stdout);
    expect(json.containment.bash).toBe(json.containment.gate);
    expect(run.stderr()).toMatch(/service: uid \d+.*agent Bash and gate: bubblewrap/);
    // reload from another process
    const port = status.sockets[0]!.port;
    const reload = dancer(['reload', '--config', config, '--json']);
    expect(reload.code).toBe(0);
    const newPid = (JSON.parse(reload.stdout) as { pid: number }).pid;
    pids.add(newPid);
    expect(newPid).not.toBe(status.pids[0]);
    expect((await get(port, '/pid')).body).toMatch(new RegExp(`^${newPid} `));
    expect(isAlive(status.pids[0]!)).toBe(false);
    // Prometheus text on the configured loopback port
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(run.stderr())?.[1]);
    const metrics = await get(metricsPort, '/metrics');
    expect(metrics.body).toMatch(/dancer_up\{service="svc",state="running"\} 1/);
    expect(metrics.body).toMatch(/dancer_deploys\{service="svc",kind="reload",status="succeeded"\} 1/);
    await waitFor(
      async () => /dancer_worker_rss_bytes\{service="svc"\} \d+/.test((await get(metricsPort, '/metrics')).body),
      5000,
      'rss',
    );
    // emergency stop: set, seen in status, cleared
    expect(dancer(['stop', '--config', config, '--reason', 'incident']).code).toBe(0);
    const stopped = await statusOf(config);
    expect(stopped.emergencyStop).toMatchObject({ engaged: true, reason: 'incident' });
    expect(dancer(['resume', '--config', config]).code).toBe(0);
    expect((await statusOf(config)).emergencyStop.engaged).toBe(false);
    // graceful stop
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    await expectGone([...pids]);
    const after = await statusOf(config);
    expect(after).toMatchObject({ running: false, state: 'stopped', pids: [] });
  });

  it('dancer reload fails clearly when no supervisor runs', () => {
    const dir = makeServiceDir({ start: 'true' });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = dancer(['reload', '--config', path.join(dir, 'dancer.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DANCER_SUPERVISOR_UNREACHABLE/);
    const s = dancer(['status', '--config', path.join(dir, 'dancer.yaml'), '--json']);
    expect(JSON.parse(s.stdout)).toMatchObject({ running: false, state: 'never started' });
  });

  it('dancer init --systemd writes a Type=notify unit', () => {
    const dir = makeServiceDir({ start: 'node server.js', watchdogSeconds: 20 });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = dancer(['init', '--systemd', '--config', path.join(dir, 'dancer.yaml'), '--json']);
    expect(r.code).toBe(0);
    const unit = readFileSync(path.join(dir, 'dancer-svc.service'), 'utf8');
    for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=20', 'Restart=on-failure', 'KillMode=mixed']) {
      expect(unit).toContain(line);
    }
    expect(unit).toMatch(/ExecStart=.*bin\/dancer\.js run --config .*dancer\.yaml/);
    expect(dancer(['init', '--systemd', '--config', path.join(dir, 'dancer.yaml')]).code).toBe(2);
  });

  it('dancer init --systemd in socket mode with a fixed port also writes the .socket unit', () => {
    const dir = makeServiceDir({ start: 'node server.js', listen: [{ name: 'web', port: 8123, host: '127.0.0.1' }] });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = dancer(['init', '--systemd', '--config', path.join(dir, 'dancer.yaml'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { socketWritten: string };
    expect(out.socketWritten).toBe(path.join(dir, 'dancer-svc.socket'));
    const socket = readFileSync(path.join(dir, 'dancer-svc.socket'), 'utf8');
    expect(socket).toMatch(/^ListenStream=127\.0\.0\.1:8123$/m);
    expect(socket).toMatch(/^FileDescriptorName=web$/m);
    const unit = readFileSync(path.join(dir, 'dancer-svc.service'), 'utf8');
    expect(unit).toMatch(/^Requires=dancer-svc\.socket$/m);
    expect(unit).toMatch(/^KillMode=process$/m);
    expect(dancer(['init', '--systemd', '--config', path.join(dir, 'dancer.yaml')]).code).toBe(2);
  });

  it('kill -9 of the supervisor mid-deploy: workers go with it, and a restart resumes the window', async () => {
    const dir = makeServiceDir({
      start: 'node app.mjs',
      observe: { windowSeconds: 30, checkEverySeconds: 0.2, minRecords: 0 },
    });
    const config = path.join(dir, 'dancer.yaml');
    const git = gitIn(dir);
    writeFileSync(
      path.join(dir, 'app.mjs'),
      `import http from 'node:http';\nimport { listen } from ${JSON.stringify(LISTEN)};\nawait listen(http.createServer((q, s) => s.end(process.pid + ' ' + process.env.DANCER_RELEASE + '\\n')));\n`,
    );
    writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'v1');
    const v1 = git('rev-parse', 'HEAD^{tree}');
    // v2 is new code on a branch: the first run serves HEAD (v1), built once into a release
    git('checkout', '-q', '-b', 'v2');
    writeFileSync(path.join(dir, 'VERSION'), '2\n');
    git('add', '-A');
    git('commit', '-q', '-m', 'v2');
    const v2 = git('rev-parse', 'HEAD^{tree}');
    git('checkout', '-q', 'main');

    const first = startRun(config);
    const pids = track(first, dir);
    await waitFor(
      async () => (await statusOf(config).catch(() => undefined))?.state === 'running',
      30_000,
      'running',
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${first.stderr()}`);
    });
    const d = dancer(['deploy', 'v2', '--no-wait', '--config', config, '--json']);
    expect(d.code).toBe(0);
    const observing = await statusOf(config);
    expect(observing.observing?.release).toBe(v2);
    const workers = observing.pids;
    for (const p of workers) pids.add(p);
    first.child.kill('SIGKILL');
    await first.exit;
    // no orphan: the workers die with the supervisor (parent-death signal)
    await expectGone(workers);
    const second = startRun(config);
    cleanups.push(async () => {
      if (second.child.exitCode === null) {
        second.child.kill('SIGTERM');
        await second.exit;
      }
    });
    const resumed = await waitFor(
      async () => {
        const s = await statusOf(config).catch(() => undefined);
        return s?.lastDeploy?.status === 'succeeded' ? s : undefined;
      },
      60_000,
      'the resumed window to pass',
    );
    for (const p of resumed.pids) pids.add(p);
    expect(resumed.currentRelease).toBe(v2);
    expect(resumed.lastGoodRelease).toBe(v2);
    expect(second.stderr(), second.stderr()).toMatch(/resuming the observation window of deploy #1/);
    const body = (await get(resumed.sockets[0]!.port, '/')).body;
    expect(body.trim().split(' ')[1]).toBe(v2);
    // and a manual rollback from the CLI goes back to the release built from HEAD, recorded with its reason
    const rb = dancer(['rollback', '--reason', 'operator says so', '--config', config, '--json']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(rb.stdout)).toMatchObject({ from: v2, to: v1 });
    const afterRollback = await statusOf(config);
    for (const p of afterRollback.pids) pids.add(p);
    expect(afterRollback.lastDeploy).toMatchObject({
      kind: 'rollback',
      status: 'succeeded',
      reason: 'operator says so',
    });
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });

  // With immutable releases the first start builds HEAD too, so only the deployed commit builds
  // slowly: a conditional, multi-statement build whose `sleep` is a grandchild of the build shell.
  it('kill -9 of the supervisor mid-build: the build dies too; a restart marks the deploy failed and keeps serving', async () => {
    // only the deployed commit (it holds SLOW) builds for long: the release from HEAD builds at once
    const dir = makeServiceDir({
      start: `node ${path.join(FIXTURES, 'http.mjs')}`,
      build: 'if [ -f SLOW ]; then sleep 300; fi',
    });
    const config = path.join(dir, 'dancer.yaml');
    const git = gitIn(dir);
    writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
    writeFileSync(path.join(dir, 'build.sh'), '#!/bin/sh\nif [ -f SLOW ]; then exec sleep 300; fi\n', { mode: 0o755 });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'v1');
    const v1 = git('rev-parse', 'HEAD^{tree}');
    const first = startRun(config);
    const pids = track(first, dir);
    const up = await waitFor(
      async () => {
        const s = await statusOf(config).catch(() => undefined);
        return s?.state === 'running' ? s : undefined;
      },
      30_000,
      'running',
    );
    for (const p of up.pids) pids.add(p);
    writeFileSync(path.join(dir, 'SLOW'), '1\n');
    git('add', '-A');
    git('commit', '-q', '-m', 'slow build');
    const deploy = spawn(process.execPath, [BIN, 'deploy', 'HEAD', '--no-wait', '--config', config], {
      stdio: 'ignore',
    });
    const deployExit = new Promise((resolve) => deploy.on('exit', resolve));
    const sleeper = await waitFor(
      () => {
        const r = spawnSync('pgrep', ['-f', '^sleep 300$'], { encoding: 'utf8' });
        return r.stdout.trim() ? Number(r.stdout.trim().split('\n')[0]) : undefined;
      },
      30_000,
      'the build to run',
    );
    first.child.kill('SIGKILL');
    await first.exit;
    await deployExit;
    await expectGone([sleeper, ...up.pids]);
    const second = startRun(config);
    cleanups.push(async () => {
      if (second.child.exitCode === null) {
        second.child.kill('SIGTERM');
        await second.exit;
      }
    });
    const s = await waitFor(
      async () => {
        const st = await statusOf(config).catch(() => undefined);
        return st?.state === 'running' ? st : undefined;
      },
      30_000,
      'running again',
    );
    for (const p of s.pids) pids.add(p);
    expect(s.currentRelease).toBe(v1);
    expect(s.lastDeploy).toMatchObject({ kind: 'deploy', status: 'failed' });
    expect(s.lastDeploy?.reason).toMatch(/^interrupted/);
    expect((await get(s.sockets[0]!.port, '/healthz')).status).toBe(200);
  });

  it('dancer run --tmux runs the supervisor in a named tmux session', async () => {
    if (spawnSync('tmux', ['-V']).status !== 0) return;
    const dir = makeServiceDir({ name: `tmux${process.pid}`, start: `node ${path.join(FIXTURES, 'http.mjs')}` });
    const config = path.join(dir, 'dancer.yaml');
    const session = `dancer-tmux${process.pid}`;
    cleanups.push(() => {
      spawnSync('tmux', ['kill-session', '-t', session]);
      rmSync(dir, { recursive: true, force: true });
    });
    const r = dancer(['run', '--tmux', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(session);
    const s = await waitFor(
      async () => {
        const st = await statusOf(config).catch(() => undefined);
        return st?.state === 'running' ? st : undefined;
      },
      15_000,
      'running in tmux',
    );
    expect(spawnSync('tmux', ['has-session', '-t', session]).status).toBe(0);
    spawnSync('tmux', ['kill-session', '-t', session]);
    await expectGone([...s.pids, s.supervisorPid!]);
  });
});
