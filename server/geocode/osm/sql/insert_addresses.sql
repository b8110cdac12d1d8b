insert into geocoder_addresses
    (osm_ref, housenumber, housenumber_norm, number, number_end, street, street_norm,
     street_from_tags, postcode, postcode_norm, city, city_norm, geom)
select r, h, hn, n, ne, coalesce(s, ''), coalesce(sn, ''), s is not null,
       p, pn, c, cn, ST_SetSRID(ST_MakePoint(x, y), 4326)
from unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
            $12::float8[], $13::float8[])
     as t(r, h, hn, n, ne, s, sn, p, pn, c, cn, x, y)
