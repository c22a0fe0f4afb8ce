-- Tenant leases (issue 18): each tenant is served by one replica at a
-- time. A lease is live while the node row it names (node_id and
-- instance) is live; a released lease keeps its row with an empty owner,
-- so the epoch only ever grows. Every write of a tenant's state checks
-- (node_id, instance, epoch) in its own transaction, holding the row FOR
-- SHARE: a takeover (an UPDATE of the row) waits for writes in flight and
-- every write after it sees the new epoch.
CREATE TABLE tenant_leases (
    tenant    text PRIMARY KEY,
    node_id   text NOT NULL,
    instance  text NOT NULL,
    epoch     bigint NOT NULL,
    taken_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_leases_owner ON tenant_leases (node_id, instance);
