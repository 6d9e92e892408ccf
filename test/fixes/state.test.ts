import { describe, expect, it } from 'vitest';
import { DancerError } from '../../src/errors.js';
import {
  FIX_EVENTS,
  FIX_STATES,
  type FixEvent,
  type FixState,
  isTerminal,
  nextState,
  TERMINAL_STATES,
  transition,
} from '../../src/fixes/state.js';

// The expected table, written out independently of TRANSITIONS: every pair not listed is illegal.
const LEGAL: Record<string, FixState> = {
  'proposed submit': 'testing',
  'proposed reject': 'rejected',
  'proposed fail': 'failed',
  'proposed supersede': 'superseded',
  'testing pass': 'awaiting_approval',
  'testing fail': 'failed',
  'testing reject': 'rejected',
  'testing supersede': 'superseded',
  'awaiting_approval approve': 'approved',
  'awaiting_approval reject': 'rejected',
  'awaiting_approval fail': 'failed',
  'awaiting_approval supersede': 'superseded',
  'approved deploy': 'deploying',
  'approved fail': 'failed',
  'approved reject': 'rejected',
  'approved supersede': 'superseded',
  'deploying live': 'observing',
  'deploying rollback': 'rolled_back',
  'observing confirm': 'deployed',
  'observing rollback': 'rolled_back',
  'deployed rollback': 'rolled_back',
};

describe('fix state machine', () => {
  const pairs = FIX_STATES.flatMap((s) => FIX_EVENTS.map((e) => [s, e] as [FixState, FixEvent]));

  it('covers every (state, event) pair', () => {
    expect(pairs).toHaveLength(11 * 10);
  });

  it.each(pairs)('%s + %s', (state, event) => {
    const expected = LEGAL[`${state} ${event}`];
    if (expected) {
      expect(transition(state, event)).toBe(expected);
      expect(nextState(state, event)).toBe(expected);
    } else {
      expect(nextState(state, event)).toBeUndefined();
      try {
        transition(state, event);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(DancerError);
        expect((error as DancerError).code).toBe('DANCER_ILLEGAL_TRANSITION');
        expect((error as DancerError).details).toMatchObject({ state, event });
      }
    }
  });

  it('the happy path reaches deployed, and final states are exactly the four', () => {
    let s: FixState = 'proposed';
    for (const e of ['submit', 'pass', 'approve', 'deploy', 'live', 'confirm'] as const) s = transition(s, e);
    expect(s).toBe('deployed');
    expect([...TERMINAL_STATES].sort()).toEqual(['failed', 'rejected', 'rolled_back', 'superseded']);
    expect(isTerminal('deployed')).toBe(false);
  });
});
