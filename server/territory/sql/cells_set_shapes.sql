update plan_territories pt set shape = s.shape
from (select pt2.territory_id,
             (select st_multi(st_collectionextract(st_union(
                         case when x.clip is null then x.g
                         else st_difference(x.g, st_unaryunion(
                                  st_snaptogrid(st_geomfromtext(x.clip, 4326), 1e-9)))
                         end), 3))
              from (select u.t, u.clip,
                           st_snaptogrid(st_geomfromtext(u.w, 4326), 1e-9) as g
                    from unnest($2::uuid[], $3::text[], $5::text[]) as u(t, w, clip)) x
              where x.t = pt2.territory_id) as shape
      from plan_territories pt2
      where pt2.plan_id = $1 and ($4::uuid[] is null or pt2.territory_id = any($4))) s
where pt.plan_id = $1 and pt.territory_id = s.territory_id
