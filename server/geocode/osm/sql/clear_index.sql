delete from geocoder_addresses; delete from geocoder_interpolations;
delete from geocoder_streets; delete from geocoder_postcodes; delete from geocoder_places;
delete from geocoder_common_words; delete from geocoder_street_names;
create temporary table geocoder_build_segments (
    name text not null, name_norm text not null,
    geom geometry(LineString, 4326) not null) on commit drop;
create temporary table geocoder_build_postal_areas (
    postcode text not null, postcode_norm text not null,
    area geometry(MultiPolygon, 4326) not null) on commit drop;
