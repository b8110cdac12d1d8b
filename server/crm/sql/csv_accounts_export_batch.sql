select crm_source, crm_id, name, industry, address_line, house_number, street,
       postal_code, city, country_code, tier::text as tier,
       annual_value::text as annual_value, visits_per_year, priority, crm_owner_id,
       crm_updated_at, service_minutes, st_x(location) as lon, st_y(location) as lat,
       geocode_status::text as geocode_status,
       geocode_precision::text as geocode_precision,
       deleted_at is not null as deleted
from accounts
where $1::text is null
   or (crm_source collate "C", crm_id collate "C") > ($1::text, $2::text)
order by crm_source collate "C", crm_id collate "C"
limit $3
