insert into geocoder_builds
    (source_file, source_sha256, duration_ms, streets, addresses, interpolations,
     postcodes, places)
select $1, $2, $3,
       (select count(*) from geocoder_streets),
       (select count(*) from geocoder_addresses),
       (select count(*) from geocoder_interpolations),
       (select count(*) from geocoder_postcodes),
       (select count(*) from geocoder_places)
returning id, streets, addresses, interpolations, postcodes, places
