select json_build_object('type', 'FeatureCollection', 'features',
           coalesce(json_agg(json_build_object(
               'type', 'Feature',
               'id', t.id,
               'geometry', st_asgeojson(pt.shape, 6)::json,
               'properties', json_build_object(
                   'territory_id', t.id, 'name', t.name, 'color', t.color))
               order by t.name), '[]'::json))::jsonb
from plan_territories pt
join territories t on t.id = pt.territory_id
where pt.plan_id = $1 and pt.shape is not null
