insert into users (email, name, oidc_issuer, oidc_subject) values ($1, $2, $3, $4)
on conflict on constraint users_email_key do update
    set oidc_issuer = excluded.oidc_issuer, oidc_subject = excluded.oidc_subject
    where users.oidc_subject is null
returning id
