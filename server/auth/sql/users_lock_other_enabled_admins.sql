select id from users where role = 'admin' and not disabled order by id for update
