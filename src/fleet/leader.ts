/**
 * One voice for the fleet: the host holding a PostgreSQL session advisory lock is the leader and
 * runs the one Zulip bot and the one webhook sender. The lock lives as long as the leader's
 * session: a leader that dies (kill -9, a crash, a cut network) loses its session and a follower,
 * retrying every `retryMs`, takes the lock. The session's TCP keepalives are set so that
 * PostgreSQL notices a silent partition within about `leaseSeconds`; a leader that cannot reach
 * PostgreSQL steps down on its own at once.
 */
import pg from 'pg';
import { errorMessage } from '../errors.js';
import { keepaliveOptions } from './signals.js';

/** Advisory-lock key of the fleet leader ("dancer-fleet-leader"). */
export const LEADER_LOCK = 771_901_002;

/** Options of {@link startLeaderElection}. */
export interface LeaderOptions {
  url: string;
  host: string;
  leaseSeconds: number;
  /** Called when this host becomes (true) or stops being (false) the leader. */
  onChange: (leader: boolean) => void;
  /** How often a follower tries to take the lock and the leader checks its session, ms. Default 1000. */
  retryMs?: number;
  log?: (message: string) => void;
}

/** A running election. */
export interface LeaderElection {
  isLeader(): boolean;
  stop(): Promise<void>;
}

/** Take part in the election of the fleet's leader until stopped. */
export function startLeaderElection(o: LeaderOptions): LeaderElection {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  let client: pg.Client | undefined;
  let leader = false;
  let stopped = false;
  let busy = false;

  const setLeader = (l: boolean) => {
    if (l === leader) return;
    leader = l;
    log(l ? `${o.host} is the fleet leader (Zulip bot, webhooks)` : `${o.host} is no longer the fleet leader`);
    o.onChange(l);
  };

  const drop = () => {
    const c = client;
    client = undefined;
    setLeader(false);
    c?.end().catch(() => undefined);
  };

  const round = async () => {
    if (stopped || busy) return;
    busy = true;
    try {
      if (!client) {
        const c = new pg.Client({
          connectionString: o.url,
          connectionTimeoutMillis: 3000,
          keepAlive: true,
          options: keepaliveOptions(o.leaseSeconds),
          application_name: `dancer-leader-${o.host}`,
        });
        c.on('error', (e) => {
          if (client === c) {
            log(`leader session lost: ${errorMessage(e)}`);
            drop();
          }
        });
        client = c;
        await c.connect();
      }
      const c = client;
      if (leader) {
        // Still our session? (A cut network shows here as an error or a timeout.)
        await Promise.race([
          c.query('SELECT 1'),
          new Promise((_, reject) => setTimeout(() => reject(new Error('leader check timed out')), 2000).unref()),
        ]);
      } else {
        const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK]);
        if (r.rows[0]?.ok) setLeader(true);
      }
    } catch {
      drop();
    } finally {
      busy = false;
    }
  };

  const timer = setInterval(() => void round(), o.retryMs ?? 1000);
  timer.unref();
  void round();

  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      clearInterval(timer);
      const c = client;
      client = undefined;
      setLeader(false);
      // Ending the session frees the lock for the next host at once.
      await c?.end().catch(() => undefined);
    },
  };
}
