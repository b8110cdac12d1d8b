insert into accounts (crm_source, crm_id, name, crm_updated_at, deleted_at)
values ($1, $2, '(deleted before it was seen)', $3, now())
on conflict on constraint accounts_crm_key do update set
    deleted_at = coalesce(accounts.deleted_at, now()),
    crm_updated_at = excluded.crm_updated_at
where accounts.crm_updated_at is null or accounts.crm_updated_at < excluded.crm_updated_at
returning true
