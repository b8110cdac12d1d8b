select st_x(location), st_y(location) from accounts
where id = any($1) and location is not null
