import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runStep, shellQuote } from '../../src/fixes/run-step.js';

const dirs: string[] = [];
const cwd = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-step-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('runStep', () => {
  it('reports exit status and keeps only the output tail', async () => {
    const r = await runStep(
      `${process.execPath} -e "for (let i = 0; i < 5000; i++) console.log('line', i); process.exitCode = 3"`,
      {
        cwd: cwd(),
        timeoutMs: 20_000,
        tailBytes: 200,
      },
    );
    expect(r).toMatchObject({ ok: false, exitCode: 3, timedOut: false, signal: null });
    expect(Buffer.byteLength(r.outputTail)).toBeLessThanOrEqual(200);
    expect(r.outputTail.trimEnd().endsWith('line 4999')).toBe(true);
  });

  it('kills the whole process tree on timeout', async () => {
    const dir = cwd();
    // The shell starts a grandchild that would outlive a plain kill of the shell.
    const cmd = `${process.execPath} -e "require('fs').writeFileSync('pid', String(process.pid)); setInterval(() => {}, 1000)" & wait`;
    const r = await runStep(cmd, { cwd: dir, timeoutMs: 500, tailBytes: 1000, killGraceMs: 300 });
    expect(r.ok).toBe(false);
    expect(r.timedOut).toBe(true);
    expect(r.outputTail).toContain('timed out after 500 ms');
    const pid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    await until(() => !alive(pid));
  });

  it('an abort signal kills the step; a missing directory is a failed result', async () => {
    const ac = new AbortController();
    const p = runStep('sleep 30', {
      cwd: cwd(),
      timeoutMs: 60_000,
      tailBytes: 100,
      signal: ac.signal,
      killGraceMs: 200,
    });
    ac.abort();
    const r = await p;
    expect(r.ok).toBe(false);
    expect(r.outputTail).toContain('aborted');
    const missing = await runStep('true', { cwd: path.join(cwd(), 'nope'), timeoutMs: 1000, tailBytes: 100 });
    expect(missing.ok).toBe(false);
    expect(existsSync(path.join(cwd(), 'nope'))).toBe(false);
  });

  it('quotes for the shell', () => {
    expect(shellQuote('test/a.test.mjs')).toBe('test/a.test.mjs');
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`);
  });
});
