-- An accepted proximity alert becomes a CRM task (issue 17): `crm_activity_outbox` holds
-- either a visit (a HubSpot meeting, a Salesforce Task on the visit id) or an alert (a
-- HubSpot task, a Salesforce Task on the alert id), written by the same worker. Queued in the
-- transaction that marks the alert `task_requested`; idempotency key `alert:{alert_id}`.
-- An alert's row goes with the alert (retention, erasure of the rep's track).
alter table crm_activity_outbox
    alter column visit_id drop not null,
    add column alert_id uuid references proximity_alerts (id) on delete cascade,
    add constraint crm_activity_outbox_one_source check (num_nonnulls(visit_id, alert_id) = 1);
create index crm_activity_outbox_alert_idx on crm_activity_outbox (alert_id);
