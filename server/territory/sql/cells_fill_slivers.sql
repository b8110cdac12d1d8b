with holes as materialized (
    select t.territory_id, r.geom as g, a.area, row_number() over () as n
    from plan_territories t,
         lateral st_dump(t.shape) p,
         lateral st_dumprings(p.geom) r,
         lateral (select st_area(r.geom::geography) as area) a
    where t.plan_id = $1 and t.shape is not null
      and ($3::uuid[] is null or t.territory_id = any($3))
      and r.path[1] > 0 and a.area < $2),
uncovered as materialized (
    select h.territory_id, h.area, h.n,
           coalesce(st_difference(h.g, (
               select st_union(st_collectionextract(st_intersection(o.shape, st_envelope(h.g)), 3))
               from plan_territories o
               where o.plan_id = $1 and o.territory_id <> h.territory_id
                 and o.shape && h.g)), h.g) as g
    from holes h),
fill as materialized (
    select u.territory_id,
           st_union(coalesce(st_difference(u.g, (
               select st_union(e.g) from uncovered e
               where (e.area, e.n) < (u.area, u.n) and e.g && u.g
                 and e.territory_id <> u.territory_id)), u.g)) as g
    from uncovered u
    group by u.territory_id),
merged as (
    select t.territory_id, st_snaptogrid(st_union(t.shape, f.g), 1e-9) as shape
    from fill f join plan_territories t
      on t.plan_id = $1 and t.territory_id = f.territory_id)
update plan_territories pt
set shape = coalesce(c.shape, v.shape)
from merged m,
     lateral (select st_multi(st_collectionextract(
         case when st_isvalid(m.shape) then m.shape else st_makevalid(m.shape) end, 3))
         as shape) v,
     lateral (select st_multi(st_collect(st_makepolygon(st_exteriorring(d.geom), array(
                  select st_interiorringn(d.geom, i)
                  from generate_series(1, st_numinteriorrings(d.geom)) i
                  where st_area(st_makepolygon(st_interiorringn(d.geom, i))) > $4))))
              as shape
              from st_dump(v.shape) d) c
where pt.plan_id = $1 and pt.territory_id = m.territory_id
