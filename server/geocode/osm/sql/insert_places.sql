insert into geocoder_places (osm_ref, name, name_norm, kind, rank, center, area)
select r, n, nn, k, rk, coalesce(ST_SetSRID(ST_MakePoint(x, y), 4326),
                                 ST_PointOnSurface(b.area)), b.area
from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int2[],
            $6::float8[], $7::float8[], $8::text[]) as t(r, n, nn, k, rk, x, y, w)
cross join lateral (
    select ST_Multi(ST_CollectionExtract(ST_BuildArea(ST_GeomFromText(w, 4326)), 3))
               as area
) b
where x is not null or not ST_IsEmpty(b.area)
