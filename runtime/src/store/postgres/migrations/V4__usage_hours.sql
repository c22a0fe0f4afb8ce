-- The usage series (issue 19): one row per tenant, hour and skill, keyed
-- `hour \0 skill` (the hour's start as 16 decimal digits, so a tenant's
-- hours are one range in time order), the bucket as JSON: the hour's
-- totals and the histogram of its calls' wall times. Kept 62 days.
CREATE TABLE usage_hours (
    tenant text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    bucket text NOT NULL,
    PRIMARY KEY (tenant, key)
);
