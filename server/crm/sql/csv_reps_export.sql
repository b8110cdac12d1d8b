select email, name, crm_owner_id, st_x(home_base) as home_lon,
       st_y(home_base) as home_lat, work_start, work_end, timezone, active,
       break_minutes, break_earliest, break_latest,
       st_x(day_start) as day_start_lon, st_y(day_start) as day_start_lat,
       st_x(day_end) as day_end_lon, st_y(day_end) as day_end_lat
from reps
order by email collate "C"
