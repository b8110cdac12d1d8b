select id, email, name, role, rep_id, disabled from users
where role is not null and not disabled
order by role, name
