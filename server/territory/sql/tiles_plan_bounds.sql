select st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e)
from (select st_extent(g) as e
      from (select a.location as g
            from plan_assignments pa
            join accounts a on a.id = pa.account_id and a.location is not null
            where pa.plan_id = $1
            union all
            select pt.shape from plan_territories pt
            where pt.plan_id = $1 and pt.shape is not null) s) x
