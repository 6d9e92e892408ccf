/**
 * `service.smoke`: what a staged release must answer before it takes traffic. The checks are
 * pure ({@link smokeFailure}); {@link runSmoke} sends the requests or runs the command.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { DancerError } from '../errors.js';
import type { ServiceConfig } from './paths.js';

/** `service.smoke`, validated. */
export type SmokeConfig = NonNullable<ServiceConfig['smoke']>;
/** One smoke request. */
export type SmokeRequest = Extract<SmokeConfig, readonly unknown[]>[number];

/** What one smoke request answered. */
export interface SmokeAnswer {
  request: SmokeRequest;
  /** The status, or undefined when the request failed (`error`). */
  status?: number | undefined;
  error?: string | undefined;
}

/** The first reason the answers fail the smoke list, or undefined when every one passed. Pure. */
export function smokeFailure(answers: readonly SmokeAnswer[]): string | undefined {
  for (const a of answers) {
    const want = Array.isArray(a.request.status) ? a.request.status : [a.request.status];
    const what = `${a.request.method} ${a.request.path}`;
    if (a.status === undefined) return `${what} failed: ${a.error ?? 'no answer'}`;
    if (!want.includes(a.status)) return `${what} answered ${a.status} (want ${want.join(' or ')})`;
  }
  return undefined;
}

function send(host: string, port: number, r: SmokeRequest, timeoutMs: number): Promise<SmokeAnswer> {
  return new Promise((resolve) => {
    const req = http.request(
      { host, port, path: r.path, method: r.method, headers: r.headers, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ request: r, status: res.statusCode }));
        res.on('error', (e) => resolve({ request: r, error: e.message }));
      },
    );
    req.on('error', (e) => resolve({ request: r, error: e.message }));
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.end(r.body);
  });
}

/**
 * Run the smoke checks against a release staged on `host:port`.
 *
 * @throws {DancerError} `DANCER_SMOKE_FAILED` with the first failure (and every answer in details).
 */
export async function runSmoke(smoke: SmokeConfig, host: string, port: number, timeoutMs = 5000): Promise<void> {
  if (Array.isArray(smoke)) {
    const answers: SmokeAnswer[] = [];
    for (const r of smoke) answers.push(await send(host, port, r, timeoutMs));
    const why = smokeFailure(answers);
    if (why) {
      throw new DancerError('DANCER_SMOKE_FAILED', `Smoke check failed: ${why}`, {
        details: { answers: answers.map((a) => ({ path: a.request.path, status: a.status, error: a.error })) },
      });
    }
    return;
  }
  const cmd = smoke as Exclude<SmokeConfig, readonly unknown[]>;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', cmd.command], {
      env: { ...process.env, DANCER_SMOKE_URL: `http://${host}:${port}`, DANCER_SMOKE_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let tail = '';
    const keep = (c: Buffer) => {
      tail = (tail + c.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    }, cmd.timeoutSeconds * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new DancerError('DANCER_SMOKE_FAILED', `Smoke command failed to start: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new DancerError(
            'DANCER_SMOKE_FAILED',
            `Smoke command ${signal ? `killed (${signal}, timeout ${cmd.timeoutSeconds} s)` : `exited ${code}`}: ${tail.trim().slice(-500)}`,
            { details: { code, signal, output: tail } },
          ),
        );
    });
  });
}
