-- Visits written back to the CRM as activities (issue 16): a HubSpot meeting associated with
-- the company, or a Salesforce Task on the Account upserted on the external id field
-- `Terrane_Visit_Id__c`. Queued in the transaction that records the visit; drained by the
-- write-back worker beside the owner changes of `crm_outbox`. Statuses are those of
-- `crm_outbox` (`conflict` is never used here: an activity has nothing to conflict with).
create table crm_activity_outbox (
    id                bigint generated always as identity primary key,
    connection_id     uuid not null references crm_connections (id) on delete cascade,
    visit_id          uuid not null references visits (id) on delete cascade,
    -- Terrane's mark on the activity (HubSpot `hs_meeting_external_url`): fixed when queued, so
    -- a retry searches for exactly what an earlier, unanswered create may have written.
    marker            text not null,
    status            crm_outbox_status not null default 'pending',
    attempts          integer not null default 0,
    -- Times a worker took the row. Above one, an earlier worker may have sent the create and
    -- lost the answer (timeout, crash): HubSpot is searched for the marker before creating.
    claims            integer not null default 0,
    next_attempt_at   timestamptz not null default now(),
    -- Why the last attempt failed: codes and ids, never the note or a position.
    last_error        text,
    -- The CRM's id of the activity once written (HubSpot meeting id, Salesforce Task Id).
    crm_activity_id   text,
    created_at        timestamptz not null default now(),
    done_at           timestamptz,
    -- `visit:{visit_id}`: one activity per visit.
    idempotency_key   text not null,
    constraint crm_activity_outbox_idempotency_key unique (idempotency_key),
    constraint crm_activity_outbox_not_conflict check (status <> 'conflict')
);
create index crm_activity_outbox_due_idx on crm_activity_outbox (next_attempt_at, id)
    where status = 'pending';
create index crm_activity_outbox_visit_idx on crm_activity_outbox (visit_id);
