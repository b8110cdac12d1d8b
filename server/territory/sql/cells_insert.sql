insert into plan_cells (plan_id, cell, territory_id)
select $1, c, t from unnest($2::int8[], $3::uuid[]) as x(c, t)
on conflict (plan_id, cell) do nothing
