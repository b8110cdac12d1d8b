-- Built-in geocoder, search tuning after measuring on larger indexes.

-- Without a pending list (`fastupdate`): a build inserts every row at once, and a long pending
-- list makes the planner price the trigram indexes out of the search.
alter index geocoder_street_names_trgm_idx set (fastupdate = off);
alter index geocoder_street_names_core_trgm_idx set (fastupdate = off);
alter index geocoder_places_name_trgm_idx set (fastupdate = off);

-- Names whose whole or distinctive part is trigram-similar to the query's (pg_trgm `%`,
-- similarity at least 0.3), through the trigram indexes. In a cached plan the planner cannot
-- price them for an unknown string and, believing similarity cheap, scans every name
-- instead: some fifty times slower from a few hundred names on. Hence the setting.
create function geocoder_similar_names(street text, core text)
returns table (name_norm text, name_core text)
language sql stable parallel safe
set enable_seqscan = off
as $$
    select n.name_norm, n.name_core from geocoder_street_names n where n.name_norm % street
    union
    select n.name_norm, n.name_core from geocoder_street_names n
    where core <> '' and n.name_core % core
$$;
