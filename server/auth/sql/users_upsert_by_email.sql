insert into users (email, name, role, rep_id) values ($1, $2, $3, $4)
on conflict on constraint users_email_key do update
    set name = excluded.name, role = excluded.role, rep_id = excluded.rep_id
    where (users.name, users.role, users.rep_id)
          is distinct from (excluded.name, excluded.role, excluded.rep_id)
