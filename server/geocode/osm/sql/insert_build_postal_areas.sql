insert into geocoder_build_postal_areas (postcode, postcode_norm, area)
select p, pn, area
from unnest($1::text[], $2::text[], $3::text[]) as t(p, pn, w)
cross join lateral (
    select ST_Multi(ST_CollectionExtract(ST_BuildArea(ST_GeomFromText(w, 4326)), 3))
               as area
) b
where not ST_IsEmpty(b.area)
