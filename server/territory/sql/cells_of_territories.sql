select cell, territory_id from plan_cells
where plan_id = $1 and ($2::uuid[] is null or territory_id = any($2))
