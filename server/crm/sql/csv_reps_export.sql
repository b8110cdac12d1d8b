select email, name, crm_owner_id, st_x(home_base) as home_lon,
       st_y(home_base) as home_lat, work_start, work_end, timezone, active
from reps
order by email collate "C"
