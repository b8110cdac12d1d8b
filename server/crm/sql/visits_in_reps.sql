-- Reps by CRM owner id.
select crm_owner_id, id from reps where crm_owner_id = any($1)
