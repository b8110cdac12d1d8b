-- Stores pings of several reps (positions already privacy-transformed); a repeated event id
-- of the same rep is skipped. Returns the rows stored. $1.. one array per column.
insert into pings (rep_id, device_id, event_id, recorded_at, position, accuracy_m, speed_mps,
                   heading_deg, tier, flags, late)
select p.rep_id, p.device_id, p.event_id, p.recorded_at,
       st_setsrid(st_makepoint(p.lon, p.lat), 4326),
       p.accuracy_m, p.speed_mps, p.heading_deg, p.tier,
       coalesce(string_to_array(nullif(p.flags, ''), ','), '{}'), p.late
from unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::float8[], $6::float8[],
            $7::float8[], $8::float8[], $9::float8[], $10::text[], $11::text[], $12::bool[])
     as p(rep_id, device_id, event_id, recorded_at, lon, lat, accuracy_m, speed_mps,
          heading_deg, tier, flags, late)
on conflict (rep_id, event_id) do nothing
returning id, rep_id, event_id
