/**
 * Pure decisions of the healing loop: how a detector trigger becomes a fix trigger, and what a
 * fix's transition means for its pattern's status.
 */
import type { FixState, FixTrigger, Transition } from '../fixes/index.js';
import type { TemplateStatus, TriggerEvent } from '../patterns/index.js';

/** The parts of a template row the loop needs. */
export interface TemplateLike {
  text: string;
  fingerprint?: string | null | undefined;
}

/**
 * The fix pipeline's trigger for a detector trigger. A trigger with a template names its pattern
 * by template id; one without (a crash with no error record, a scheduled review) is named by its
 * kind, so fixes for it still supersede each other.
 */
export function triggerToFixTrigger(
  trigger: TriggerEvent,
  template: TemplateLike | undefined,
  hash: (text: string) => string,
): FixTrigger {
  if (trigger.templateId !== undefined) {
    const text = template?.text ?? `template ${trigger.templateId}`;
    return {
      patternId: String(trigger.templateId),
      patternHash: hash(template?.fingerprint ? `${template.fingerprint}` : text),
      patternText: template?.text,
      reason: trigger.reason,
    };
  }
  return { patternId: trigger.kind, patternHash: hash(trigger.kind), patternText: undefined, reason: trigger.reason };
}

/**
 * The status a pattern takes after a transition of a fix for it, or undefined to leave it:
 * `fixing` while a fix is open or deploying, `fixed` once deployed, `ignored` when the agent
 * judged it expected noise, `known` again when the fix failed, was rejected or rolled back.
 */
export function templateStatusAfter(state: FixState, transition: Transition): TemplateStatus | undefined {
  switch (state) {
    case 'proposed':
    case 'testing':
    case 'awaiting_approval':
    case 'approved':
    case 'deploying':
    case 'observing':
      return 'fixing';
    case 'deployed':
      return 'fixed';
    case 'rejected':
      return transition.details?.outcome === 'ignore' ? 'ignored' : 'known';
    case 'failed':
    case 'rolled_back':
      return 'known';
    case 'superseded':
      return undefined;
  }
}
