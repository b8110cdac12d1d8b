select u.id, u.email, u.name, u.role, u.rep_id, r.name as rep_name, u.last_sign_in_at,
       u.disabled
from users u left join reps r on r.id = u.rep_id
order by u.role nulls first, u.email
