-- For each account of the team's book ($1; only those in $2 when it is not null) that a lock
-- or an enabled rule claims, the first claim by precedence: a lock, then named-account rules,
-- then the other rules in their order.
with book as (
    select a.id, a.location, a.tier, a.industry, a.annual_value, a.country_code,
           upper(replace(replace(coalesce(a.postal_code, ''), ' ', ''), '-', '')) as postal
    from accounts a
    where a.id in (select territory_team_book($1))
      and ($2::uuid[] is null or a.id = any($2))
),
locks as (
    select b.id as account_id, l.territory_id, null::uuid as rule_id,
           0 as precedence, 0 as position,
           'locked' || case when l.reason <> '' then ': ' || l.reason else '' end as reason
    from book b
    join territory_locks l on l.account_id = b.id
    join territories t on t.id = l.territory_id and t.team_id = $1
),
ruled as (
    select b.id as account_id, r.territory_id, r.id as rule_id,
           case when r.kind = 'named' then 1 else 2 end as precedence, r.position,
           'rule ' || (r.position + 1)
               || case when r.name <> '' then ' "' || r.name || '"' else '' end
               || ': ' || case r.kind
                   when 'named' then 'named account'
                   when 'postal_code' then 'postal code ' || b.postal
                   when 'polygon' then 'inside the drawn area'
                   else 'tier ' || b.tier::text
                        || coalesce(', industry ' || b.industry, '')
                        || ', value ' || b.annual_value::text
               end as reason
    from book b
    join territory_rules r on r.team_id = $1 and r.enabled
    where case r.kind
        when 'named' then b.id = any(r.account_ids)
        when 'postal_code' then
            (r.country_code is null or r.country_code = b.country_code)
            and b.postal <> ''
            and (b.postal = any(r.postal_codes)
                 or exists (select 1 from unnest(r.postal_prefixes) p
                            where b.postal like p || '%'))
        when 'polygon' then st_intersects(r.area, b.location)
        else
            (not (r.predicate ? 'tiers')
             or b.tier::text in (select jsonb_array_elements_text(r.predicate -> 'tiers')))
            and (not (r.predicate ? 'industries')
                 or b.industry in (select jsonb_array_elements_text(r.predicate -> 'industries')))
            and (not (r.predicate ? 'min_value')
                 or b.annual_value >= (r.predicate ->> 'min_value')::numeric)
            and (not (r.predicate ? 'max_value')
                 or b.annual_value <= (r.predicate ->> 'max_value')::numeric)
    end
)
select distinct on (account_id) account_id, territory_id, rule_id, reason
from (select * from locks union all select * from ruled) c
order by account_id, precedence, position
