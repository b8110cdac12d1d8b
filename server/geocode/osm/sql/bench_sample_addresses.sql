select mode() within group (order by a.street), a.street_norm,
       mode() within group (order by a.housenumber), a.housenumber_norm,
       mode() within group (order by a.postcode),
       coalesce(mode() within group (order by a.city), min(s.city)),
       array_agg(ST_X(a.geom) order by a.id), array_agg(ST_Y(a.geom) order by a.id)
from geocoder_addresses a
join geocoder_streets s on s.id = a.street_id
where a.street_from_tags
group by a.street_norm, a.housenumber_norm, s.city
order by a.street_norm, a.housenumber_norm, s.city
