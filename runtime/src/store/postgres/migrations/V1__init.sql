-- The PostgreSQL store, version 1: the tables of the redb store.
--
-- Every table of a tenant has `tenant` and the rest of redb's key
-- (`tenant \0 ...`) as bytea, so `ORDER BY tenant, key` is redb's byte
-- order; values redb stores as JSON text are kept verbatim in `text`
-- (never jsonb); memory values and sealed bytes are bytea. Tenant ids are
-- `[a-z0-9-]`: `COLLATE "C"` only makes their order byte order by
-- construction. Applied once; never edit it: a change is a new V<n> file.

-- Bumped in the transaction of every change that can make a credential
-- invalid (a token changed or removed, a tenant suspended, resumed,
-- deleted or imported).
CREATE TABLE credentials_generation (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    generation bigint NOT NULL
);
INSERT INTO credentials_generation (generation) VALUES (0);

-- Gateway-wide values (the admin key's hash).
CREATE TABLE meta (
    name text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE tenants (
    tenant text COLLATE "C" PRIMARY KEY,
    record text NOT NULL
);

CREATE TABLE policies (
    tenant text COLLATE "C" PRIMARY KEY,
    policy text NOT NULL
);

-- A tenant's data key, wrapped by the master key.
CREATE TABLE tenant_keys (
    tenant text COLLATE "C" PRIMARY KEY,
    wrapped bytea NOT NULL
);

-- Sealed secret values: never plaintext here.
CREATE TABLE secrets (
    tenant text COLLATE "C" NOT NULL,
    name bytea NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- Memory entries: key is `user \0 key` (user empty for a call without one).
CREATE TABLE memory (
    tenant text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- What the tenant's memory holds, for the quota; its row is locked by
-- every write of the tenant's memory.
CREATE TABLE memory_usage (
    tenant text COLLATE "C" PRIMARY KEY,
    entries bigint NOT NULL,
    bytes bigint NOT NULL
);

-- Tenant tokens (records hold only the SHA-256 of the secret).
CREATE TABLE tokens (
    id bytea PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL,
    record text NOT NULL
);
CREATE INDEX tokens_by_tenant ON tokens (tenant, id);

CREATE TABLE trusted_keys (
    name bytea PRIMARY KEY,
    record text NOT NULL
);

-- Component bytes, once per SHA-256 (hex) of those bytes, whoever installed
-- them; a row goes with the last install that refers to it.
CREATE TABLE components (
    digest text COLLATE "C" PRIMARY KEY,
    bytes bytea NOT NULL
);

CREATE TABLE skills (
    tenant text COLLATE "C" NOT NULL,
    name bytea NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- Which bytes an installed skill runs (a record and its component are
-- written apart by the repair tools, as in redb).
CREATE TABLE skill_components (
    tenant text COLLATE "C" NOT NULL,
    name bytea NOT NULL,
    digest text COLLATE "C" NOT NULL REFERENCES components (digest),
    PRIMARY KEY (tenant, name)
);
CREATE INDEX skill_components_by_digest ON skill_components (digest);

-- Metered totals per skill (JSON).
CREATE TABLE usage (
    tenant text COLLATE "C" NOT NULL,
    skill bytea NOT NULL,
    totals text NOT NULL,
    PRIMARY KEY (tenant, skill)
);

CREATE TABLE agents (
    tenant text COLLATE "C" NOT NULL,
    name bytea NOT NULL,
    spec text NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- key: `agent \0 peer`.
CREATE TABLE sessions (
    tenant text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    session text NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- key: `agent \0 model \0 YYYY-MM-DD`.
CREATE TABLE llm_usage (
    tenant text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    usage text NOT NULL,
    PRIMARY KEY (tenant, key)
);

CREATE TABLE channels (
    tenant text COLLATE "C" NOT NULL,
    name bytea NOT NULL,
    spec text NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- Inbound requests taken: until is the expiry, decimal unix seconds as in
-- redb (a value that does not parse counts as live for ever).
CREATE TABLE replays (
    tenant text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    until text NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- Cron jobs. next_run is the job's next run with the sign bit flipped
-- (a bigint in u64 order), written with the job.
CREATE TABLE cron_jobs (
    id bytea PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL,
    skill bytea NOT NULL,
    next_run bigint NOT NULL,
    job text NOT NULL
);
-- The scheduler's order: due time, then id.
CREATE INDEX cron_due ON cron_jobs (next_run, id);
-- The owner's range (list, remove, the quota counts).
CREATE INDEX cron_owner ON cron_jobs (tenant, skill, id);

-- Outbound messages. due is next_attempt (sign bit flipped) while the
-- message is pending, NULL otherwise.
CREATE TABLE outbox (
    tenant text COLLATE "C" NOT NULL,
    id bytea NOT NULL,
    message text NOT NULL,
    due bigint,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX outbox_due ON outbox (due, tenant, id) WHERE due IS NOT NULL;
