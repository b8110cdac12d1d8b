update plan_territories pt
set shape = coalesce((
    select st_multi(st_collectionextract(st_difference(pt.shape, st_union(o.shape)), 3))
    from plan_territories o
    where o.plan_id = pt.plan_id and not (o.territory_id = any($2))
      and o.shape && pt.shape and st_intersects(o.shape, pt.shape)), pt.shape)
where pt.plan_id = $1 and pt.territory_id = any($2) and pt.shape is not null
