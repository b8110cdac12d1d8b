insert into geocoder_interpolations
    (osm_ref, street, street_norm, start_number, end_number, step, postcode_norm, geom)
select r, s, sn, a, b, st, pn, ST_GeomFromText(w, 4326)
from unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::int2[],
            $7::text[], $8::text[]) as t(r, s, sn, a, b, st, pn, w)
