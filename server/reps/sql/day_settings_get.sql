-- A rep's day settings: shift, break and the chosen start and end points. $1 rep.
select work_start, work_end, break_minutes, break_earliest, break_latest,
       st_x(day_start) as start_lon, st_y(day_start) as start_lat,
       st_x(day_end) as end_lon, st_y(day_end) as end_lat
from reps
where id = $1
