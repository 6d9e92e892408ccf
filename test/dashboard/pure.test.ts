import { describe, expect, it } from 'vitest';
import { makeColors } from '../../src/cli/output.js';
import { renderTopFrame, type TopData } from '../../src/cli/top-frame.js';
import { assertSafeBind, checkAction, isLoopback } from '../../src/dashboard/auth.js';

describe('dashboard auth (pure)', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', 'example.com', '128.0.0.1'])
      expect(isLoopback(h)).toBe(false);
  });

  it('no token: 403; missing or wrong: 401; right (any case of Bearer): ok', () => {
    expect(checkAction('Bearer x', undefined)).toMatchObject({ ok: false, status: 403, code: 'DANCER_READ_ONLY' });
    expect(checkAction(undefined, 't0k')).toMatchObject({ ok: false, status: 401, code: 'DANCER_UNAUTHORIZED' });
    expect(checkAction('Bearer t0', 't0k')).toMatchObject({ ok: false, status: 401 });
    expect(checkAction('Basic t0k', 't0k')).toMatchObject({ ok: false, status: 401 });
    expect(checkAction('t0k', 't0k')).toMatchObject({ ok: false, status: 401 });
    expect(checkAction('Bearer t0k', 't0k')).toEqual({ ok: true });
    expect(checkAction('bearer t0k', 't0k')).toEqual({ ok: true });
  });

  it('refuses a non-loopback bind without a token', () => {
    expect(() => assertSafeBind('0.0.0.0', undefined, 'TOK')).toThrow(
      expect.objectContaining({ code: 'DANCER_DASHBOARD_INSECURE' }),
    );
    expect(() => assertSafeBind('0.0.0.0', 'secret', 'TOK')).not.toThrow();
    expect(() => assertSafeBind('127.0.0.1', undefined, undefined)).not.toThrow();
  });
});

describe('dancer top frame (pure)', () => {
  const data: TopData = {
    at: Date.UTC(2026, 11, 6, 12, 0, 0),
    service: 'shop',
    state: 'running',
    running: true,
    supervisorPid: 100,
    uptimeSeconds: 42,
    restarts: 1,
    currentRelease: 'f'.repeat(40),
    emergencyStop: { engaged: true, setBy: 'cli:ann', reason: 'migration' },
    workers: [{ pid: 4242, role: 'current', release: 'f'.repeat(40), rssMb: 51.5, cpuPercent: 3.5 }],
    requestsPerMin: [0, 5, 10, 20],
    errorsPerMin: [0, 0, 4, 0],
    observing: {
      deployId: 7,
      release: 'a'.repeat(40),
      fixId: 3,
      status: 'observing',
      windowEndsAt: Date.UTC(2026, 11, 6, 12, 5),
      reasons: [],
    },
    openFixes: [
      { id: 3, state: 'observing', summary: 'Guard nulls', patternId: '9' },
      { id: 4, state: 'awaiting_approval', summary: 'Retry the lookup\nsecond line', patternId: '11' },
    ],
    decisions: [
      { at: Date.UTC(2026, 11, 6, 11, 59), rule: 'spike', outcome: 'fire', templateId: 9, reason: 'rate 5x baseline' },
    ],
  };
  const c = makeColors(process.stdout, { NO_COLOR: '1' });

  it('shows every part, marks the selected fix, and never exceeds the width', () => {
    const lines = renderTopFrame(data, c, 120, 1);
    const text = lines.join('\n');
    expect(text).toContain('dancer top · shop');
    expect(text).toContain('EMERGENCY STOP by cli:ann: migration');
    expect(text).toContain('pid 4242');
    expect(text).toContain('RSS 51.5 MiB  CPU 3.5%');
    expect(text).toContain('#7 aaaaaaaaaaaa observing (fix 3), window ends 12:05:00');
    expect(lines.find((l) => l.startsWith('> #4'))).toBeDefined();
    expect(lines.find((l) => l.startsWith('  #3'))).toBeDefined();
    expect(text).not.toContain('second line');
    for (const l of renderTopFrame(data, c, 60, 1)) expect([...l].length).toBeLessThanOrEqual(60);
  });

  it('clips by visible width when colours are on', () => {
    const colored = makeColors(process.stdout, { FORCE_COLOR: '1' });
    const lines = renderTopFrame(data, colored, 40, 0);
    for (const l of lines) expect([...l.replace(/\x1b\[[0-9;]*m/g, '')].length).toBeLessThanOrEqual(40);
    expect(lines.join('\n')).toContain('\x1b[');
  });
});
