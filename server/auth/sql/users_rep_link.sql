select u.id from reps r left join users u on u.rep_id = r.id where r.id = $1
