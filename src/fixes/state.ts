/**
 * The fix state machine. Pure: {@link transition} maps a state and an event to the next state or
 * throws `DANCER_ILLEGAL_TRANSITION`. The store records every transition as a `fix_events` row.
 *
 * ```
 * proposed -> testing -> awaiting_approval -> approved -> deploying -> observing -> deployed
 *      \          \               \               \            \            \           \
 *       rejected   failed          rejected        failed       rolled_back  rolled_back  rolled_back
 * ```
 * Any state before `deploying` can become `superseded` (a newer fix for the same pattern).
 */
import { DancerError } from '../errors.js';

/** Every state a fix can be in. */
export const FIX_STATES = [
  'proposed',
  'testing',
  'awaiting_approval',
  'approved',
  'deploying',
  'observing',
  'deployed',
  'rejected',
  'failed',
  'rolled_back',
  'superseded',
] as const;

/** A fix state. */
export type FixState = (typeof FIX_STATES)[number];

/** Every event that moves a fix. */
export const FIX_EVENTS = [
  /** The agent committed a change; the gate starts. */
  'submit',
  /** Gate and policy passed. */
  'pass',
  /** A human (or the policy, for low risk when allowed) approved. */
  'approve',
  /** A human rejected, or the agent declined to change code. */
  'reject',
  /** Agent error, gate failure, policy violation, merge conflict. */
  'fail',
  /** Merged into main; the deploy starts. */
  'deploy',
  /** The new release is live; the observation window starts. */
  'live',
  /** The observation window closed without a rollback trigger. */
  'confirm',
  /** A rollback trigger fired (or a human asked for one). */
  'rollback',
  /** A newer fix for the same pattern replaced this one. */
  'supersede',
] as const;

/** A fix event. */
export type FixEvent = (typeof FIX_EVENTS)[number];

/** Who caused a transition: a stage of Dancer, or a human by name (`human:NAME`). */
export type Actor = 'detector' | 'agent' | 'gate' | 'policy' | 'timer' | 'git' | 'supervisor' | `human:${string}`;

/** The allowed transitions: `TRANSITIONS[state][event]` is the next state. */
export const TRANSITIONS: Readonly<Record<FixState, Partial<Record<FixEvent, FixState>>>> = {
  proposed: { submit: 'testing', reject: 'rejected', fail: 'failed', supersede: 'superseded' },
  testing: { pass: 'awaiting_approval', fail: 'failed', reject: 'rejected', supersede: 'superseded' },
  awaiting_approval: { approve: 'approved', reject: 'rejected', fail: 'failed', supersede: 'superseded' },
  approved: { deploy: 'deploying', fail: 'failed', reject: 'rejected', supersede: 'superseded' },
  deploying: { live: 'observing', rollback: 'rolled_back' },
  observing: { confirm: 'deployed', rollback: 'rolled_back' },
  deployed: { rollback: 'rolled_back' },
  rejected: {},
  failed: {},
  rolled_back: {},
  superseded: {},
};

/** States a fix never leaves. */
export const TERMINAL_STATES: readonly FixState[] = FIX_STATES.filter((s) => Object.keys(TRANSITIONS[s]).length === 0);

/** States of a fix still on its way: neither terminal nor deployed (what `dancer status` lists). */
export const IN_FLIGHT_STATES: readonly FixState[] = FIX_STATES.filter(
  (s) => !TERMINAL_STATES.includes(s) && s !== 'deployed',
);

/** States in which a fix may be rolled back: its change is merged and deploying, observed or live. */
export const ROLLBACK_STATES: readonly FixState[] = FIX_STATES.filter((s) => TRANSITIONS[s].rollback !== undefined);

/** States in which a fix is still open (not terminal, not yet deployed). */
export const OPEN_STATES: readonly FixState[] = ['proposed', 'testing', 'awaiting_approval', 'approved'];

/** True when no event moves a fix out of `state`. */
export function isTerminal(state: FixState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** The next state, or undefined when `event` is not allowed in `state`. */
export function nextState(state: FixState, event: FixEvent): FixState | undefined {
  return TRANSITIONS[state][event];
}

/**
 * The state `event` moves a fix in `state` to.
 *
 * @throws {DancerError} `DANCER_ILLEGAL_TRANSITION` when the event is not allowed in that state.
 */
export function transition(state: FixState, event: FixEvent): FixState {
  const next = nextState(state, event);
  if (next === undefined) {
    const allowed = Object.keys(TRANSITIONS[state]);
    throw new DancerError(
      'DANCER_ILLEGAL_TRANSITION',
      `A fix in state ${state} cannot ${event}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ' (it is final)'}`,
      { details: { state, event, allowed } },
    );
  }
  return next;
}

/** True when `value` names a fix state. */
export function isFixState(value: string): value is FixState {
  return (FIX_STATES as readonly string[]).includes(value);
}

/** The actor string for a human. */
export function humanActor(name: string): Actor {
  return `human:${name}`;
}
