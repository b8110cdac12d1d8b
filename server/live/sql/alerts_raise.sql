-- Raises at most one alert per rep from the accounts that qualified in memory: the nearest
-- that the database's rules allow. Not when the account is gone, was visited (a visit that
-- counts) within the rules' days, is on the rep's route or appointments today, is closed now
-- (an account without opening hours is taken as open; one with hours on other weekdays only is
-- closed today), alerted the rep within the cooldown (a snoozed alert: until its snooze ends;
-- a dismissed one: for 7 days), or when the rep had their hourly number of alerts already.
-- $1 reps, $2 accounts, $3 ping event ids, $4 distances, $5 visited_within_days,
-- $6 cooldown_minutes, $7 max_per_hour (one element per candidate).
with c as (
    select *
    from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::float8[], $5::int4[], $6::int4[],
                $7::int4[])
         as c(rep_id, account_id, ping_event_id, distance_m, visited_days, cooldown_min, per_hour)
), allowed as (
    select distinct on (c.rep_id) c.rep_id, c.account_id, c.ping_event_id, c.distance_m
    from c
    join reps r on r.id = c.rep_id
    join accounts a on a.id = c.account_id and a.deleted_at is null and a.merged_into is null
    cross join lateral (select now() at time zone r.timezone as local_now) l
    where not exists (
              select 1 from visits v
              where v.account_id = c.account_id and not v.far_from_account
                and v.visited_at > now() - make_interval(days => c.visited_days))
      and not exists (
              select 1 from route_days d
              where d.rep_id = c.rep_id and d.day = l.local_now::date
                and d.plan -> 'stops' @> jsonb_build_array(jsonb_build_object('account_id', c.account_id)))
      and not exists (
              select 1 from appointments ap
              where ap.rep_id = c.rep_id and ap.account_id = c.account_id and ap.status = 'booked'
                and (ap.window_start at time zone r.timezone)::date = l.local_now::date)
      and (not exists (select 1 from account_opening_hours h where h.account_id = c.account_id)
           or exists (
              select 1 from account_opening_hours h
              where h.account_id = c.account_id
                and h.weekday = extract(isodow from l.local_now)::int2
                and l.local_now::time >= h.opens and l.local_now::time < h.closes))
      and not exists (
              select 1 from proximity_alerts p
              where p.rep_id = c.rep_id and p.account_id = c.account_id
                and case p.state
                        when 'snoozed' then p.snoozed_until > now()
                        when 'dismissed' then p.acted_at > now() - interval '7 days'
                        else p.created_at > now() - make_interval(mins => c.cooldown_min)
                    end)
      and (select count(*) from proximity_alerts p
           where p.rep_id = c.rep_id and p.created_at > now() - interval '1 hour') < c.per_hour
    order by c.rep_id, c.distance_m
), raised as (
    insert into proximity_alerts (rep_id, account_id, ping_event_id, distance_m)
    select rep_id, account_id, ping_event_id, distance_m from allowed
    on conflict do nothing
    returning *
)
select p.id, p.rep_id, p.account_id, a.name as account_name, st_x(a.location) as lon,
       st_y(a.location) as lat, p.distance_m::float8 as distance_m, p.ping_event_id, p.state,
       p.created_at, p.snoozed_until, p.appointment_id
from raised p
join accounts a on a.id = p.account_id
