insert into geocoder_build_segments (name, name_norm, geom)
select n, nn, ST_GeomFromText(w, 4326)
from unnest($1::text[], $2::text[], $3::text[]) as t(n, nn, w)
