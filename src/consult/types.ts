/**
 * Plain data the consultation stage takes in.
 */

/** What fired (the detector's trigger, or a human asking). */
export interface ConsultTrigger {
  id: string;
  kind: 'new_pattern' | 'spike' | 'crash' | 'review' | 'manual';
  /** The pattern (template id), when the trigger is about one. */
  templateId?: number | undefined;
  /** Crashes are urgent; reviews, spikes and new patterns are routine unless the detector says so. */
  urgent: boolean;
  /** What the rule saw. */
  numbers: Record<string, unknown>;
  /** Why it fired, in plain words. */
  reason: string;
  /** ms since epoch. */
  at: number;
}

/** What a fix may touch and how it is judged: the part of the policy the agent must know. */
export interface ConsultPolicy {
  /** Repository-relative globs the agent must not change (the effective list, defaults included). */
  protectedPaths: readonly string[];
  /** Most files / lines a fix may change, when the policy limits them. */
  maxFiles?: number | undefined;
  maxLines?: number | undefined;
  /** How the fix is tested and judged (gate steps, regression rule, approval), one line each. */
  notes?: readonly string[] | undefined;
}
