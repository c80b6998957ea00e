-- devshell's own tables. This file runs again whenever the base module's version
-- changes, so every statement must be idempotent.

CREATE TABLE IF NOT EXISTS devshell_module (
    name         text PRIMARY KEY,
    version      text NOT NULL,
    state        text NOT NULL DEFAULT 'installed',
    installed_at timestamptz DEFAULT now(),
    updated_at   timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS devshell_user (
    id            serial PRIMARY KEY,
    login         text UNIQUE NOT NULL,
    name          text,
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS devshell_session (
    sid        text PRIMARY KEY,
    uid        integer NULL REFERENCES devshell_user ON DELETE CASCADE,
    db         text,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS devshell_session_expires_at_idx ON devshell_session (expires_at);

CREATE TABLE IF NOT EXISTS devshell_bus (
    id         bigserial PRIMARY KEY,
    channel    text NOT NULL,
    message    jsonb NOT NULL,
    created_at timestamptz DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devshell_bus_channel_id_idx ON devshell_bus (channel, id);

CREATE TABLE IF NOT EXISTS devshell_cron (
    id               serial PRIMARY KEY,
    name             text UNIQUE NOT NULL,
    module           text NOT NULL,
    function         text NOT NULL,
    interval_seconds integer NOT NULL CHECK (interval_seconds > 0),
    nextcall         timestamptz NOT NULL DEFAULT now(),
    lastcall         timestamptz,
    active           boolean NOT NULL DEFAULT true,
    last_error       text
);

-- Modules uploaded with `devshell deploy`: every server sharing the database unpacks
-- them under its own data dir (<data_dir>/addons) and loads them.
CREATE TABLE IF NOT EXISTS devshell_module_archive (
    name        text PRIMARY KEY,
    version     text NOT NULL,
    archive     bytea NOT NULL,
    sha256      text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    uploaded_by integer REFERENCES devshell_user ON DELETE SET NULL
);

-- Failed logins and deploy passwords, per login and client address, shared by every
-- server process on the database (see devshell/server/web/login_throttle.py).
CREATE TABLE IF NOT EXISTS devshell_login_attempt (
    scope        text NOT NULL,         -- 'login' or 'deploy'
    login        text NOT NULL,
    address      text NOT NULL,         -- an IPv4 address or an IPv6 /64
    failures     integer NOT NULL DEFAULT 0,
    last_failure timestamptz,
    succeeded_at timestamptz,           -- this login once succeeded from this address
    PRIMARY KEY (scope, login, address)
);
CREATE INDEX IF NOT EXISTS devshell_login_attempt_address_idx ON devshell_login_attempt (scope, address);
CREATE INDEX IF NOT EXISTS devshell_login_attempt_last_failure_idx ON devshell_login_attempt (last_failure);

-- The secret that signs session cookies, shared by every server on the database (made by
-- `devshell db init`, rotated by `devshell db rotate-secret`; see devshell/db/signing_keys.py).
-- One current secret (retired_at NULL); a retired one is still accepted until expires_at.
CREATE TABLE IF NOT EXISTS devshell_secret (
    id         serial PRIMARY KEY,
    secret     text NOT NULL,            -- hex
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    expires_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS devshell_secret_current_idx ON devshell_secret ((retired_at IS NULL))
    WHERE retired_at IS NULL;

-- Cron by lease: a runner claims a due job by committing claimed_by/claimed_until, runs it
-- with no lock held, renews the lease while it runs; an expired lease is taken over.
ALTER TABLE devshell_cron ADD COLUMN IF NOT EXISTS claimed_by text;
ALTER TABLE devshell_cron ADD COLUMN IF NOT EXISTS claimed_until timestamptz;

-- One row per run of a cron job: who ran which due time, when, and how it ended
-- ('running', 'done', 'failed', or 'lost' when its runner died and the lease expired).
CREATE TABLE IF NOT EXISTS devshell_cron_run (
    id          bigserial PRIMARY KEY,
    cron_id     integer NOT NULL REFERENCES devshell_cron ON DELETE CASCADE,
    due_at      timestamptz NOT NULL,
    claimed_by  text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    outcome     text NOT NULL DEFAULT 'running',
    error       text
);
CREATE INDEX IF NOT EXISTS devshell_cron_run_cron_id_id_idx ON devshell_cron_run (cron_id, id);
