select exists (
select 1
from plan_territories t,
     lateral st_dump(t.shape) p,
     lateral st_dumprings(p.geom) r
where t.plan_id = $1 and t.shape is not null
  and ($3::uuid[] is null or t.territory_id = any($3))
  and r.path[1] > 0 and st_area(r.geom::geography) < $2
  and st_area(coalesce(st_difference(r.geom, (
          select st_union(o.shape) from plan_territories o
          where o.plan_id = $1 and o.territory_id <> t.territory_id
            and o.shape && r.geom)), r.geom)::geography) > 0.1)
