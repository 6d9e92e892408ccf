/** The control socket's commands (`dancer status`, `reload`, `deploy`, `rollback`, `accept`, `stop`) mapped onto a supervisor. */
import { DancerError } from '../errors.js';
import type { ControlRequest } from './control.js';
import type { DeployOptions, DeployOutcome, RollbackOutcome } from './types.js';

/** What the control socket can ask of a supervisor. */
export interface Controllable {
  status(): unknown;
  reload(): Promise<unknown>;
  deploy(ref: string, options: DeployOptions): Promise<DeployOutcome>;
  rollback(options: { reason?: string; actor?: string }): Promise<RollbackOutcome>;
  accept(actor: string): unknown;
  shutdown(): Promise<void>;
}

/**
 * Run one control request.
 *
 * @throws {DancerError} `DANCER_USAGE` for an unknown command; whatever the operation throws.
 */
export async function dispatchControl(target: Controllable, request: ControlRequest): Promise<unknown> {
  const args = request.args ?? {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  switch (request.cmd) {
    case 'status':
      return target.status();
    case 'reload':
      return target.reload();
    case 'deploy':
      return target.deploy(String(args.ref ?? ''), {
        noWait: args.noWait === true,
        actor: str(args.actor) ?? 'cli',
        fixId: typeof args.fixId === 'number' ? args.fixId : undefined,
        targetTemplateId: typeof args.targetTemplateId === 'number' ? args.targetTemplateId : undefined,
        reason: str(args.reason),
      });
    case 'rollback':
      return target.rollback({ reason: str(args.reason) ?? 'manual', actor: str(args.actor) ?? 'cli' });
    case 'accept':
      return target.accept(str(args.actor) ?? 'cli');
    case 'shutdown':
      setImmediate(() => void target.shutdown());
      return { stopping: true };
    default:
      throw new DancerError('DANCER_USAGE', `Unknown control command "${request.cmd}".`);
  }
}
