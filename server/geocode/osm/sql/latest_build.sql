select source_file, built_at, addresses from geocoder_builds order by id desc limit 1
