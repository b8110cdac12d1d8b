select id, name from reps order by name
