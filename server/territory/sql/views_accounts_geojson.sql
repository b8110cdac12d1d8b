select json_build_object('type', 'FeatureCollection', 'features',
           coalesce(json_agg(json_build_object(
               'type', 'Feature',
               'id', a.id,
               'geometry', st_asgeojson(a.location, 6)::json,
               'properties', json_build_object(
                   'id', a.id, 'name', a.name, 'tier', a.tier,
                   'annual_value', a.annual_value::float8,
                   'workload', round(pa.workload::numeric, 1)::float8,
                   'territory_id', pa.territory_id, 'source', pa.source,
                   'reason', pa.reason,
                   'locked', exists (select 1 from territory_locks l
                                     where l.account_id = a.id),
                   'cell', a.h3_cell::text))
               order by a.annual_value desc, a.id), '[]'::json))::jsonb
from plan_assignments pa
join accounts a on a.id = pa.account_id and a.location is not null
where pa.plan_id = $1
