select territory_id from plan_territories where plan_id = $1
