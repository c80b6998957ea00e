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
