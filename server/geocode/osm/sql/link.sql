-- Second half of a geocoder build, inside its transaction once the raw rows are in (street
-- segments and postal areas in temporary tables, addresses, interpolations and places in
-- theirs): merges streets, links addresses to them and derives postcodes and localities.
-- Distances in degrees are only used for clustering and "near" tests where a factor of two
-- between longitude and latitude does not matter; metre thresholds use geography.

-- Streets: same-named segments within about 200 m of each other are one street.
insert into geocoder_streets (name, name_norm, geom, center)
select name, name_norm, g, ST_ClosestPoint(g, ST_Centroid(g))
from (
    select name_norm,
           mode() within group (order by name) as name,
           ST_Multi(ST_CollectionExtract(ST_LineMerge(ST_Collect(geom)), 2)) as g
    from (
        select name, name_norm, geom,
               ST_ClusterDBSCAN(geom, eps := 0.002, minpoints := 1)
                   over (partition by name_norm) as cluster
        from geocoder_build_segments
    ) c
    group by name_norm, cluster
) s
where not ST_IsEmpty(g)
order by name_norm;

-- Addresses that name no street take the nearest named street within 100 m; the others
-- are dropped, since a number without a street cannot be asked for.
update geocoder_addresses a
set street = n.name, street_norm = n.name_norm, street_id = n.id
from geocoder_addresses a2
cross join lateral (
    select k.id, k.name, k.name_norm, k.distance_m
    from (
        select s.id, s.name, s.name_norm,
               ST_Distance(s.geom::geography, a2.geom::geography) as distance_m
        from geocoder_streets s
        where s.geom is not null
        order by s.geom <-> a2.geom
        limit 4
    ) k
    order by k.distance_m, k.id
    limit 1
) n
where a.id = a2.id and not a2.street_from_tags and n.distance_m <= 100;
delete from geocoder_addresses where street_norm = '';

-- Names that only appear on addresses (squares, courtyards, `addr:place`): a street without
-- a line, one per cluster of its addresses.
insert into geocoder_streets (name, name_norm, center)
select mode() within group (order by street), street_norm,
       ST_ClosestPoint(ST_Collect(geom), ST_Centroid(ST_Collect(geom)))
from (
    select a.street, a.street_norm, a.geom,
           ST_ClusterDBSCAN(a.geom, eps := 0.01, minpoints := 1)
               over (partition by a.street_norm) as cluster
    from geocoder_addresses a
    where a.street_id is null
      and not exists (
          select 1 from geocoder_streets s
          where s.name_norm = a.street_norm and ST_DWithin(s.geom, a.geom, 0.01))
) o
group by street_norm, cluster
order by street_norm;

-- Common words and, without them, each street's distinctive core.
insert into geocoder_common_words (word)
select w
from geocoder_streets s, unnest(string_to_array(s.name_norm, ' ')) as w
group by w
having count(distinct s.name_norm)
       >= greatest(5, (select count(distinct name_norm) from geocoder_streets) / 100);

insert into geocoder_street_names (name_norm, name_core)
select n.name_norm, array_to_string(array(
           select u.w from unnest(string_to_array(n.name_norm, ' ')) with ordinality as u(w, i)
           where not exists (select 1 from geocoder_common_words c where c.word = u.w)
           order by u.i), ' ')
from (select distinct name_norm from geocoder_streets) n;

-- Every address and interpolation belongs to the nearest street of its name.
update geocoder_addresses a
set street_id = (
    select s.id from geocoder_streets s
    where s.name_norm = a.street_norm
    order by ST_Distance(coalesce(s.geom, s.center), a.geom), s.id
    limit 1)
where a.street_id is null;

update geocoder_interpolations i
set street_id = (
    select s.id from geocoder_streets s
    where s.name_norm = i.street_norm
    order by ST_Distance(coalesce(s.geom, s.center), i.geom), s.id
    limit 1);
delete from geocoder_interpolations where street_id is null;

-- What a street's addresses say about it.
update geocoder_streets s
set address_count = x.n, postcode_norms = x.postcodes, city_norms = x.cities, city = x.city
from (
    select street_id,
           count(*) as n,
           coalesce(array_agg(distinct postcode_norm) filter (where postcode_norm is not null),
                    '{}') as postcodes,
           coalesce(array_agg(distinct city_norm) filter (where city_norm is not null),
                    '{}') as cities,
           mode() within group (order by city) filter (where city is not null) as city
    from geocoder_addresses
    group by street_id
) x
where x.street_id = s.id;

-- Postcodes: the centroid of their address points, then postal boundaries.
insert into geocoder_postcodes (postcode_norm, postcode, city, address_count, center)
select postcode_norm,
       mode() within group (order by postcode),
       mode() within group (order by city) filter (where city is not null),
       count(*),
       ST_Centroid(ST_Collect(geom))
from geocoder_addresses
where postcode_norm is not null
group by postcode_norm;

insert into geocoder_postcodes (postcode_norm, postcode, center, area)
select postcode_norm, min(postcode), ST_PointOnSurface(ST_Union(area)),
       ST_Multi(ST_Union(area))
from geocoder_build_postal_areas
group by postcode_norm
on conflict (postcode_norm) do update set area = excluded.area;

-- Cities named in addresses but not mapped as places resolve to their addresses' centroid.
insert into geocoder_places (name, name_norm, kind, rank, center)
select mode() within group (order by city), city_norm, 'addr_city', 7,
       ST_Centroid(ST_Collect(geom))
from geocoder_addresses a
where city_norm is not null
  and not exists (select 1 from geocoder_places p where p.name_norm = a.city_norm)
group by city_norm;

-- Other names a street is known under: the postal area and the municipality or district
-- around its middle, the nearest city, town or village, and the nearest suburb or quarter
-- within about 2 km.
update geocoder_streets s
set postcode_norms = array(
        select distinct n from (
            select unnest(s.postcode_norms) as n
            union all
            select p.postcode_norm from geocoder_postcodes p
            where p.area is not null and ST_Intersects(p.area, s.center)
        ) pc
        order by n),
    city_norms = array(
        select distinct n from (
            select unnest(s.city_norms) as n
            union all
            select p.name_norm from geocoder_places p
            where p.area is not null and ST_Intersects(p.area, s.center)
            union all
            (select p.name_norm from geocoder_places p
             where p.area is null and p.rank <= 3
             order by p.center <-> s.center limit 1)
            union all
            (select p.name_norm from geocoder_places p
             where p.area is null and p.rank between 4 and 6
               and ST_DWithin(p.center, s.center, 0.02)
             order by p.center <-> s.center limit 1)
        ) c
        order by n),
    city = coalesce(
        s.city,
        (select p.name from geocoder_places p
         where p.kind = 'municipality' and ST_Intersects(p.area, s.center)
         order by p.id limit 1),
        (select p.name from geocoder_places p
         where p.area is null and p.rank <= 3
         order by p.center <-> s.center limit 1));
