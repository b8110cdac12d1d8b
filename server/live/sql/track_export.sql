-- A rep's own track between two instants as a GeoJSON FeatureCollection, oldest first.
-- $1 rep, $2 from (inclusive), $3 to (exclusive).
select json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature',
        'geometry', st_asgeojson(position)::json,
        'properties', json_build_object(
            'event_id', event_id, 'device_id', device_id, 'recorded_at', recorded_at,
            'received_at', received_at, 'accuracy_m', accuracy_m, 'speed_mps', speed_mps,
            'heading_deg', heading_deg, 'tier', tier, 'flags', flags, 'late', late))
        order by recorded_at), '[]'::json)) as track,
    count(*) as pings
from pings
where rep_id = $1 and recorded_at >= $2 and recorded_at < $3
