/**
 * The remote backup of the fix history (`fixes.pushRemote`): after each fix transition and each
 * rollback, push every `dancer/*` branch and `dancer-before-*` tag to the remote. Pushes run in
 * the background one at a time (changes that arrive meanwhile are folded into the next push),
 * and a failed push is retried with backoff; nothing ever waits on the remote.
 */
import { DancerError, errorMessage } from '../errors.js';
import { git } from './git.js';

/** The refspecs pushed: Dancer's branches (forced: they are Dancer's own) and its tags. */
export const PUSH_REFSPECS = [
  '+refs/heads/dancer/*:refs/heads/dancer/*',
  'refs/tags/dancer-before-*:refs/tags/dancer-before-*',
];

/** Push Dancer's branches and tags to `remote` once. Resolves with the number of refs pushed. */
export async function pushDancerRefs(repo: string, remote: string): Promise<number> {
  const refs = (await git(repo, ['for-each-ref', '--format=%(refname)', 'refs/heads/dancer/', 'refs/tags/'])).stdout
    .split('\n')
    .filter((r) => r.startsWith('refs/heads/dancer/') || r.startsWith('refs/tags/dancer-before-'));
  if (refs.length === 0) return 0;
  const r = await git(repo, ['push', '--porcelain', remote, ...PUSH_REFSPECS], { allowFail: true });
  if (r.exitCode !== 0) {
    const first = r.stderr.split('\n').find((l) => l.trim() && !l.startsWith('To ')) ?? `exit ${r.exitCode}`;
    throw new DancerError('DANCER_PUSH_FAILED', `git push to ${remote} failed: ${first}`, {
      details: { remote, stderr: r.stderr.slice(-2000) },
    });
  }
  return refs.length;
}

/** Options of {@link startPushRemote}. */
export interface PushRemoteOptions {
  repo: string;
  remote: string;
  /** What tells this module the store changed (notify's store watcher under `dancer run`). */
  watcher: ChangeSource;
  /** First retry delay, ms (doubles up to `maxDelayMs`). Default 2 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (error: unknown) => void;
  onPushed?: (refs: number) => void;
}

/** A running backup. */
export interface PushRemote {
  /** Ask for a push (what a fix transition or a rollback does). */
  request(): void;
  /** Resolves when no push is running or pending (tests). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** A source of store changes: only their `type` is read here (`fix_state`, `rollback`). */
export interface ChangeSource {
  /** Add a listener; returns the function that removes it. */
  subscribe(listener: (change: { type: string }) => void): () => void;
}

/** Push after every fix transition and rollback seen by `watcher`. */
export function startPushRemote(options: PushRemoteOptions): PushRemote {
  const base = options.baseDelayMs ?? 2_000;
  const max = options.maxDelayMs ?? 5 * 60_000;
  let pending = false;
  let running: Promise<void> | undefined;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  const run = (): void => {
    if (running || stopped || !pending) return;
    pending = false;
    running = (async () => {
      try {
        const n = await pushDancerRefs(options.repo, options.remote);
        failures = 0;
        if (n > 0) options.onPushed?.(n);
      } catch (error) {
        failures++;
        options.onError?.(error instanceof DancerError ? error : new Error(errorMessage(error)));
        pending = true;
        const delay = Math.min(max, base * 2 ** (failures - 1));
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          run();
        }, delay);
        retryTimer.unref();
      }
    })().finally(() => {
      running = undefined;
      if (pending && !retryTimer) run();
    });
  };

  const request = () => {
    pending = true;
    if (!retryTimer) run();
  };
  const unsubscribe = options.watcher.subscribe((change) => {
    if (change.type === 'fix_state' || change.type === 'rollback') request();
  });

  return {
    request,
    async idle() {
      while (running || (pending && !retryTimer)) {
        if (running) await running;
        else run();
      }
    },
    async stop() {
      stopped = true;
      unsubscribe();
      if (retryTimer) clearTimeout(retryTimer);
      await running;
    },
  };
}
