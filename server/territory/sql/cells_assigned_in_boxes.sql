select distinct on (a.id) st_x(a.location), st_y(a.location), pa.workload, pa.territory_id
from unnest($2::float8[], $3::float8[], $4::float8[], $5::float8[]) as b(x0, y0, x1, y1)
join accounts a on a.location && st_makeenvelope(b.x0, b.y0, b.x1, b.y1, 4326)
join plan_assignments pa on pa.plan_id = $1 and pa.account_id = a.id
order by a.id
