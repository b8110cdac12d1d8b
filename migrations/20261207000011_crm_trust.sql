-- Issue 14 "Trust": Salesforce path tokens, counted clock clamps, repaired clocks.

alter table crm_connections
    -- The secret path segment of `POST /webhooks/salesforce/{token}`, sealed with the secret
    -- key (context `crm_connections.webhook_token:<id>`). Set when a Salesforce connection is
    -- created; null for other kinds and for Salesforce connections made before this migration
    -- (their endpoint answers 401 until an admin issues a token).
    add column webhook_token bytea;

-- Per source (`accounts.crm_source`: a connection's name, or a CSV source), changes whose
-- modification time lay beyond now + TERRANE_CRM_CLOCK_SKEW_S and were applied as of now
-- instead (apply.rs), and when that last happened. A table of its own so counting never
-- touches (or locks) the connection rows.
create table crm_clock_clamps (
    source      text primary key,
    clamped     bigint not null default 0,
    last_at     timestamptz not null default now()
);

alter table crm_reconciliations
    -- Accounts whose stored CRM clock lay in the future, reset before the run so the CRM's
    -- current state could win again.
    add column clocks_repaired integer not null default 0;
