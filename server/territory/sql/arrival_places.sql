select a.id, coalesce(inside.territory_id, owned.territory_id, nearest.territory_id),
       case when inside.territory_id is not null then 'inside the territory''s area'
            when owned.territory_id is not null then 'its owner''s territory'
            else 'the nearest territory' end
from accounts a
left join lateral (select pt.territory_id from plan_territories pt
                   where pt.plan_id = $2 and st_intersects(pt.shape, a.location)
                   order by pt.territory_id limit 1) inside on true
left join lateral (select pt.territory_id from plan_territories pt
                   where pt.plan_id = $2 and pt.rep_id = a.owner_rep_id
                   order by pt.territory_id limit 1) owned on true
left join lateral (select pt.territory_id from plan_territories pt
                   where pt.plan_id = $2 and pt.shape is not null
                   order by pt.shape <-> a.location limit 1) nearest on true
where a.id = any($1)
