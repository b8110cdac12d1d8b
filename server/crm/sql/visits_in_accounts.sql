-- Live accounts of connection $1 (its name is their crm_source) among CRM ids $2.
select crm_id, id from accounts
where crm_source = $1 and crm_id = any($2) and deleted_at is null
