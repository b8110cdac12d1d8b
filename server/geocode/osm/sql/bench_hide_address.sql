delete from geocoder_addresses where street_norm = $1 and housenumber_norm = $2
