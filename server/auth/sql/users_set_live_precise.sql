-- Lets a user see precise live positions, or not. $1 user, $2 allowed.
update users set live_precise = $2 where id = $1
