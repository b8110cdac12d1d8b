-- Write-back outcomes in columns instead of text read back out of `last_error`:
-- the CRM owner a conflict saw, and the plan that superseded a pending change.
alter table crm_outbox
    -- When status = 'conflict': the owner the CRM had (null: the record had no owner).
    add column conflict_crm_owner text,
    -- A later plan decided this account's owner before the change was written; such a row is
    -- failed and cannot be retried.
    add column superseded boolean not null default false,
    add column superseded_by uuid references territory_plans (id) on delete set null;

-- Rows written by the old code: read what their text said, once.
update crm_outbox
set conflict_crm_owner = nullif(substring(last_error from '^CRM owner is (.*), expected '), 'none')
where status = 'conflict' and last_error like 'CRM owner is %, expected %';

update crm_outbox
set superseded = true,
    superseded_by = (select p.id from territory_plans p
                     where p.id::text = substring(last_error from '^superseded by plan ([0-9a-f-]{36})'))
where status = 'failed' and last_error like 'superseded%';
