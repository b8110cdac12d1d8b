delete from plan_cells where plan_id = $1
