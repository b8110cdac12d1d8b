-- Accounts changed since $1, and every account of a territory changed since $1, for the
-- proximity index; deleted and unlocated ones come with lon/lat null so the index drops them.
with changed as (
    select id from accounts where updated_at > $1
    union
    select a.id from territories t join accounts a on a.territory_id = t.id where t.updated_at > $1
)
select a.id as account_id,
       case when a.deleted_at is null and a.merged_into is null then st_x(a.location) end as lon,
       case when a.deleted_at is null and a.merged_into is null then st_y(a.location) end as lat,
       coalesce(a.owner_rep_id, t.rep_id) as rep_id, a.priority,
       a.annual_value::float8 as annual_value,
       greatest(a.updated_at, t.updated_at) as changed_at
from changed c
join accounts a on a.id = c.id
left join territories t on t.id = a.territory_id
