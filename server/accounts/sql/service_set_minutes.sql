-- Sets how long a visit takes at the account with source $1 and CRM id $2 ($3 minutes; null:
-- the team's tier default). Returns the owner rep (null when none) only when the value changed.
update accounts set service_minutes = $3
where crm_source = $1 and crm_id = $2 and service_minutes is distinct from $3
returning owner_rep_id
