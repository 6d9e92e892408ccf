/**
 * The fleet schema in PostgreSQL, as numbered migrations (like the store's): each runs once, in
 * version order, in its own transaction, under an advisory lock so hosts starting together do not
 * race. Never change a migration that shipped: add a new one.
 */

/** One numbered change of the fleet schema. */
export interface FleetMigration {
  version: number;
  name: string;
  up: string;
}

/** Every fleet migration, in order. */
export const FLEET_MIGRATIONS: readonly FleetMigration[] = [
  {
    version: 1,
    name: 'hosts-templates-counts',
    up: `
      CREATE TABLE fleet_hosts (
        name          TEXT PRIMARY KEY,
        started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        release       TEXT,                        -- release serving now
        state         TEXT NOT NULL DEFAULT 'up',  -- up | stopped (left the fleet cleanly)
        pid           INTEGER,
        info          JSONB NOT NULL DEFAULT '{}'
      );
      -- One id per pattern on every host: a template is named by its text and stack fingerprint.
      CREATE TABLE fleet_templates (
        id            BIGSERIAL PRIMARY KEY,
        text          TEXT NOT NULL,
        fingerprint   TEXT NOT NULL DEFAULT '',
        first_seen    TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen     TIMESTAMPTZ NOT NULL DEFAULT now(),
        status        TEXT NOT NULL DEFAULT 'new',
        UNIQUE (text, fingerprint)
      );
      -- Per-host per-minute counts; a host is the authority on its own rows, so shipping is an
      -- idempotent overwrite and a host back from a partition simply re-ships what it missed.
      CREATE TABLE fleet_template_counts (
        template_id   BIGINT NOT NULL REFERENCES fleet_templates(id),
        host          TEXT NOT NULL,
        minute        BIGINT NOT NULL,             -- floor(ms / 60000)
        count         INTEGER NOT NULL,
        errors        INTEGER NOT NULL,            -- error + fatal records
        PRIMARY KEY (template_id, host, minute)
      );
      CREATE INDEX fleet_template_counts_minute ON fleet_template_counts(minute);
    `,
  },
  {
    version: 2,
    name: 'decisions-leases-consultations',
    up: `
      CREATE TABLE fleet_decisions (
        id            BIGSERIAL PRIMARY KEY,
        at            TIMESTAMPTZ NOT NULL DEFAULT now(),
        host          TEXT NOT NULL,
        template_id   BIGINT REFERENCES fleet_templates(id),
        kind          TEXT NOT NULL,               -- consult | skip | lease_taken | lease_lost ...
        reason        TEXT NOT NULL,
        details       JSONB NOT NULL DEFAULT '{}'
      );
      CREATE INDEX fleet_decisions_template ON fleet_decisions(template_id, at);
      -- One row per pattern: who holds it, until when, and the persisted work state a successor
      -- resumes from (stage, fix branch, consultation id).
      CREATE TABLE fleet_leases (
        pattern_key   TEXT PRIMARY KEY,
        holder        TEXT,
        expires_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        taken_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        takeovers     INTEGER NOT NULL DEFAULT 0,
        stage         TEXT NOT NULL DEFAULT 'new', -- new | consulting | gating | merged | done | failed
        state         JSONB NOT NULL DEFAULT '{}',
        done_at       TIMESTAMPTZ
      );
      CREATE TABLE fleet_consultations (
        id            BIGSERIAL PRIMARY KEY,
        pattern_key   TEXT NOT NULL,
        host          TEXT NOT NULL,
        started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        finished_at   TIMESTAMPTZ,
        outcome       TEXT,                        -- fix | ignore | escalate | improve_logging | failed
        details       JSONB NOT NULL DEFAULT '{}'
      );
      CREATE INDEX fleet_consultations_pattern ON fleet_consultations(pattern_key);
      CREATE TABLE fleet_ledger (
        id            BIGSERIAL PRIMARY KEY,
        at            TIMESTAMPTZ NOT NULL DEFAULT now(),
        host          TEXT NOT NULL,
        consultation_id BIGINT REFERENCES fleet_consultations(id),
        cost_usd      DOUBLE PRECISION NOT NULL DEFAULT 0,
        input_tokens  BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0
      );
      CREATE INDEX fleet_ledger_at ON fleet_ledger(at);
    `,
  },
  {
    version: 3,
    name: 'fixes-deploys-stop-audit',
    up: `
      CREATE TABLE fleet_fixes (
        id            BIGSERIAL PRIMARY KEY,
        pattern_key   TEXT NOT NULL,
        branch        TEXT NOT NULL,
        commit_sha    TEXT,                        -- merge commit on the shared remote's main
        state         TEXT NOT NULL,               -- rolling_out | deployed | stopped | rolled_back
        created_by    TEXT NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        reason        TEXT
      );
      CREATE INDEX fleet_fixes_pattern ON fleet_fixes(pattern_key, created_at);
      CREATE TABLE fleet_fix_events (
        id            BIGSERIAL PRIMARY KEY,
        fix_id        BIGINT NOT NULL REFERENCES fleet_fixes(id),
        at            TIMESTAMPTZ NOT NULL DEFAULT now(),
        host          TEXT NOT NULL,
        actor         TEXT NOT NULL,
        event         TEXT NOT NULL,
        reason        TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX fleet_fix_events_fix ON fleet_fix_events(fix_id, id);
      -- Each host's deploy of each fix: the wave it belongs to and where it stands.
      CREATE TABLE fleet_deploys (
        fix_id        BIGINT NOT NULL REFERENCES fleet_fixes(id),
        host          TEXT NOT NULL,
        wave          INTEGER NOT NULL,            -- 0: canary
        state         TEXT NOT NULL DEFAULT 'pending', -- pending | deploying | observing | deployed | failed | rolled_back | skipped
        release       TEXT,
        reason        TEXT,
        updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (fix_id, host)
      );
      CREATE TABLE fleet_stop (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        engaged       BOOLEAN NOT NULL,
        actor         TEXT NOT NULL,
        reason        TEXT NOT NULL,
        at            TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE TABLE fleet_audit (
        id            BIGSERIAL PRIMARY KEY,
        at            TIMESTAMPTZ NOT NULL DEFAULT now(),
        host          TEXT NOT NULL,
        actor         TEXT NOT NULL,
        action        TEXT NOT NULL,
        target        TEXT,
        details       JSONB NOT NULL DEFAULT '{}'
      );
      CREATE INDEX fleet_audit_at ON fleet_audit(at);
    `,
  },
  {
    version: 4,
    name: 'voice',
    up: `
      -- One voice: every host's notifications (Zulip events, webhook changes) wait here until the
      -- leader delivers them; each row is delivered by one leader, once.
      CREATE TABLE fleet_voice (
        id            BIGSERIAL PRIMARY KEY,
        host          TEXT NOT NULL,               -- the host the event happened on
        channel       TEXT NOT NULL,               -- zulip | webhook
        payload       JSONB NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        delivered_at  TIMESTAMPTZ,
        delivered_by  TEXT
      );
      CREATE INDEX fleet_voice_pending ON fleet_voice(id) WHERE delivered_at IS NULL;
    `,
  },
  {
    version: 5,
    name: 'voice-claims',
    up: `
      -- A leader's delivery is a claim until its outboxes posted the rows it planned (posted_at).
      -- receipt: where those rows are in the leader's outboxes (opaque to PostgreSQL). A claim by a
      -- host that no longer leads is taken again by the leader; abandoned lists the earlier
      -- claims ({host, receipt}) so that host drops its leftovers before it speaks again.
      ALTER TABLE fleet_voice ADD COLUMN receipt JSONB;
      ALTER TABLE fleet_voice ADD COLUMN posted_at TIMESTAMPTZ;
      ALTER TABLE fleet_voice ADD COLUMN abandoned JSONB NOT NULL DEFAULT '[]';
      UPDATE fleet_voice SET posted_at = delivered_at WHERE delivered_at IS NOT NULL;
      CREATE INDEX fleet_voice_unposted ON fleet_voice(id) WHERE posted_at IS NULL;
      CREATE INDEX fleet_voice_abandoned ON fleet_voice USING gin (abandoned jsonb_path_ops)
        WHERE abandoned <> '[]';
    `,
  },
  {
    version: 6,
    name: 'fix-refs',
    up: `
      -- Fix ids are each host's own; Zulip needs one number per fix across the fleet. A host's
      -- fix gets its fleet number the first time the leader relays an event naming it.
      CREATE TABLE fleet_fix_refs (
        id            BIGSERIAL PRIMARY KEY,
        host          TEXT NOT NULL,
        local_id      INTEGER NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (host, local_id)
      );
    `,
  },
];
