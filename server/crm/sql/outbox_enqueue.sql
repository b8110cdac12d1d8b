with ins as (
    insert into crm_outbox (connection_id, account_id, crm_id, expected_owner, new_owner,
                            plan_id, idempotency_key)
    select c.connection_id, c.account_id, c.crm_id, c.expected_owner, c.new_owner, $6,
           c.idempotency_key
    from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $7::text[])
         as c(connection_id, account_id, crm_id, expected_owner, new_owner,
              idempotency_key)
    on conflict on constraint crm_outbox_idempotency_key do nothing
    returning 1
)
select count(*) from ins
