select cell, territory_id from plan_cells where plan_id = $1
