with addr as (
    select 'rooftop'::text as precision, a.housenumber, a.street, a.postcode,
           coalesce(a.city, s.city) as city, a.geom,
           ST_Distance(a.geom::geography,
                       ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) as distance_m
    from (select * from geocoder_addresses
          order by geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) limit 8) a
    left join geocoder_streets s on s.id = a.street_id
),
street as (
    select 'street'::text as precision, null::text as housenumber, s.name as street,
           (select p.postcode from geocoder_postcodes p
            where p.postcode_norm = any(s.postcode_norms)
            order by p.center <-> s.center, p.postcode_norm limit 1) as postcode,
           s.city, ST_ClosestPoint(s.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) as geom,
           ST_Distance(s.geom::geography,
                       ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) as distance_m,
           s.id
    from (select * from geocoder_streets where geom is not null
          order by geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) limit 8) s
)
select precision, housenumber, street, postcode, city, ST_X(geom), ST_Y(geom), distance_m
from ((select precision, housenumber, street, postcode, city, geom, distance_m
       from addr where distance_m <= $3 order by distance_m limit 1)
      union all
      (select precision, housenumber, street, postcode, city, geom, distance_m
       from street where distance_m <= $4 order by distance_m, id limit 1)) r
limit 1
