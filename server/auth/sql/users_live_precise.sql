-- Whether a user may see precise live positions. $1 user.
select live_precise from users where id = $1
