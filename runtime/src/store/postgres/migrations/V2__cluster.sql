-- Cluster membership (issue 18): every replica's row, kept alive by its
-- heartbeat. Liveness is judged by this server's clock (now()) only, never
-- a replica's.
CREATE TABLE nodes (
    node_id       text PRIMARY KEY,
    -- Random per process: a restart of the same node id is told from a
    -- second process claiming it.
    instance      text NOT NULL,
    addr          text NOT NULL,
    version       text NOT NULL,
    config_digest text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- Facts every replica of the cluster must share (the master key's
-- fingerprint), set by the first to start.
CREATE TABLE cluster_facts (
    name  text PRIMARY KEY,
    value text NOT NULL
);
