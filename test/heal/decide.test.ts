import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FIX_STATES } from '../../src/fixes/state.js';
import { templateStatusAfter, triggerToFixTrigger } from '../../src/heal/decide.js';
import type { TriggerEvent } from '../../src/patterns/detector.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

function trigger(over: Partial<TriggerEvent> = {}): TriggerEvent {
  return {
    id: 't1',
    kind: 'new_pattern',
    templateId: 7,
    urgent: false,
    numbers: { count: 12 },
    reason: 'new pattern seen 12 times in 5 min',
    at: 1_700_000_000_000,
    decisionId: 3,
    ...over,
  };
}

describe('triggerToFixTrigger', () => {
  it('names a templated trigger by template id and hashes the fingerprint when there is one', () => {
    const fix = triggerToFixTrigger(trigger(), { text: 'TypeError: <*> of undefined', fingerprint: 'fp-abc' }, sha);
    expect(fix).toEqual({
      patternId: '7',
      patternHash: sha('fp-abc'),
      patternText: 'TypeError: <*> of undefined',
      reason: 'new pattern seen 12 times in 5 min',
    });
  });

  it('hashes the template text when the template has no fingerprint', () => {
    const fix = triggerToFixTrigger(trigger(), { text: 'boom <*>', fingerprint: null }, sha);
    expect(fix.patternHash).toBe(sha('boom <*>'));
    expect(fix.patternText).toBe('boom <*>');
  });

  it('still names the pattern when the template row is missing', () => {
    const fix = triggerToFixTrigger(trigger({ templateId: 42 }), undefined, sha);
    expect(fix.patternId).toBe('42');
    expect(fix.patternHash).toBe(sha('template 42'));
    expect(fix.patternText).toBeUndefined();
  });

  it('names a trigger without a template by its kind, so its fixes supersede each other', () => {
    const a = triggerToFixTrigger(
      trigger({ kind: 'crash', templateId: undefined, reason: 'crash loop' }),
      undefined,
      sha,
    );
    const b = triggerToFixTrigger(trigger({ kind: 'crash', templateId: undefined, reason: 'again' }), undefined, sha);
    expect(a).toEqual({ patternId: 'crash', patternHash: sha('crash'), patternText: undefined, reason: 'crash loop' });
    expect(b.patternHash).toBe(a.patternHash);
  });
});

describe('templateStatusAfter', () => {
  const t = (details?: Record<string, unknown>) => ({
    event: 'reject' as const,
    actor: 'agent' as const,
    reason: 'r',
    details,
  });

  it('marks the pattern fixing while a fix is open or deploying', () => {
    for (const state of ['proposed', 'testing', 'awaiting_approval', 'approved', 'deploying', 'observing'] as const) {
      expect(templateStatusAfter(state, t())).toBe('fixing');
    }
  });

  it('marks it fixed once deployed', () => {
    expect(templateStatusAfter('deployed', { event: 'confirm', actor: 'timer', reason: 'ok' })).toBe('fixed');
  });

  it('marks it ignored only when the agent judged it noise, known otherwise', () => {
    expect(templateStatusAfter('rejected', t({ outcome: 'ignore' }))).toBe('ignored');
    expect(templateStatusAfter('rejected', t({ outcome: 'escalate' }))).toBe('known');
    expect(templateStatusAfter('rejected', t())).toBe('known');
  });

  it('returns it to known after a failure or a rollback, and leaves it alone when superseded', () => {
    expect(templateStatusAfter('failed', { event: 'fail', actor: 'gate', reason: 'x' })).toBe('known');
    expect(templateStatusAfter('rolled_back', { event: 'rollback', actor: 'timer', reason: 'x' })).toBe('known');
    expect(templateStatusAfter('superseded', { event: 'supersede', actor: 'detector', reason: 'x' })).toBeUndefined();
  });

  it('has an answer for every state', () => {
    for (const state of FIX_STATES) expect(() => templateStatusAfter(state, t())).not.toThrow();
  });
});
