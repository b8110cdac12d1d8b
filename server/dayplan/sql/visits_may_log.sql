-- Whether the rep may log a visit at the account: they own it, or have an appointment there.
select exists (
    select 1 from accounts a
    where a.id = $2 and a.deleted_at is null
      and (a.owner_rep_id = $1
           or exists (select 1 from appointments ap where ap.account_id = a.id and ap.rep_id = $1))
)
