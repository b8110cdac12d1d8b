-- Every located, live account for the proximity index. The rep is the CRM owner, else the
-- territory's rep.
select a.id as account_id, st_x(a.location) as lon, st_y(a.location) as lat,
       coalesce(a.owner_rep_id, t.rep_id) as rep_id, a.priority,
       a.annual_value::float8 as annual_value,
       greatest(a.updated_at, t.updated_at) as changed_at
from accounts a
left join territories t on t.id = a.territory_id
where a.deleted_at is null and a.merged_into is null and a.location is not null
