update accounts set deleted_at = null, merged_into = null, crm_updated_at = $3
where crm_source = $1 and crm_id = $2 and deleted_at is not null
  and (crm_updated_at is null or crm_updated_at < $3)
returning true
