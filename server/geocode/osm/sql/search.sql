-- Forward geocoding in one round trip. The branches of the `union all` are the tiers, best
-- first; under the outer `limit 1` PostgreSQL's Append stops at the first branch that yields
-- a row, so a later tier (and the CTEs only it uses) runs only when every earlier one found
-- nothing.
--
-- $1 street (normalized), $2 house number (normalized), $3 its leading integer,
-- $4 postcode (normalized), $5 city (normalized). Any may be null.
-- Returns precision, lon, lat, confidence.
with q as materialized (
    -- The query's street without the region's common words (computed once).
    select array_to_string(array(
               select u.w from unnest(string_to_array($1::text, ' ')) with ordinality as u(w, i)
               where not exists (select 1 from geocoder_common_words c where c.word = u.w)
               order by u.i), ' ') as core
),
scored as materialized (
    -- Street names the query may mean, each scored once: how alike the whole names are, and
    -- the distinctive parts (or the whole names when either has none) by edit distance
    -- (typos), trigrams, or containment (a missing or misspelt street type).
    select n.name_norm,
           case when n.name_norm = $1::text then 1.0::float8
                else geocoder_name_score(n.name_norm, $1::text) end as whole,
           case when n.name_norm = $1::text then 1.0::float8
                else greatest(geocoder_name_score(d.a, d.b), geocoder_edit_ratio(d.a, d.b),
                              word_similarity(d.a, d.b)::float8) end as core
    from q
    cross join lateral (
        -- A name spelt exactly as asked stands alone; otherwise the look-alikes.
        select e.name_norm, e.name_core from geocoder_street_names e where e.name_norm = $1::text
        union all
        select l.name_norm, l.name_core from geocoder_similar_names($1::text, q.core) l
        where not exists (select 1 from geocoder_street_names e where e.name_norm = $1::text)
    ) n
    cross join lateral (
        select case when q.core <> '' and n.name_core <> '' then n.name_core
                    else n.name_norm end as a,
               case when q.core <> '' and n.name_core <> '' then q.core
                    else $1::text end as b
    ) d
),
names as materialized (
    -- A name must resemble the query both as a whole and in its distinctive part.
    select name_norm, (whole + core) / 2 as score
    from scored
    where core >= 0.65 and (whole + core) / 2 >= 0.6
),
cand as (
    -- The streets of those names, and whether they agree with the postcode and city.
    select s.id, s.geom, s.center, s.address_count, s.postcode_norms, n.score,
           coalesce($4::text = any(s.postcode_norms), false) as pc_ok,
           coalesce($5::text = any(s.city_norms), false) as city_ok
    from names n
    join geocoder_streets s on s.name_norm = n.name_norm
),
ranked as (
    select c.*,
           c.score + case when c.pc_ok then 0.1 else 0 end
                   + case when c.city_ok then 0.05 else 0 end as rank_score,
           -- How much a stated postcode or city that the street does not have costs.
           (case when $4::text is null or c.pc_ok then 1.0 else 0.8 end)
               * (case when $5::text is null or c.city_ok then 1.0 else 0.85 end) as agree
    from cand c
),
best as (
    select * from ranked order by rank_score desc, address_count desc, id limit 1
),
-- Nearest numbered neighbours on the best street, below and above, same parity and any.
lo_same as (
    select coalesce(a.number_end, a.number) as n, a.geom from best b
    join geocoder_addresses a on a.street_id = b.id
    where a.number < $3::int and a.number % 2 = $3::int % 2
    order by a.number desc, a.id limit 1
),
hi_same as (
    select a.number as n, a.geom from best b
    join geocoder_addresses a on a.street_id = b.id
    where a.number > $3::int and a.number % 2 = $3::int % 2
    order by a.number, a.id limit 1
),
lo_any as (
    select coalesce(a.number_end, a.number) as n, a.geom from best b
    join geocoder_addresses a on a.street_id = b.id
    where a.number < $3::int
    order by a.number desc, a.id limit 1
),
hi_any as (
    select a.number as n, a.geom from best b
    join geocoder_addresses a on a.street_id = b.id
    where a.number > $3::int
    order by a.number, a.id limit 1
),
pair as (
    (select lo.n as n0, lo.geom as g0, hi.n as n1, hi.geom as g1 from lo_same lo, hi_same hi)
    union all
    (select lo.n, lo.geom, hi.n, hi.geom from lo_any lo, hi_any hi)
    limit 1
),
pc as (
    select center from geocoder_postcodes where postcode_norm = $4::text
),
tiers as (
    -- 1. The address as written, first on the streets of that name in the postcode or city
    --    asked for (a common name can be a street in a hundred towns)...
    (select 'rooftop'::text as precision, a.geom,
            (case when $4::text is null or $4::text = any(s.postcode_norms) then 1.0 else 0.8 end)
            * (case when $5::text is null or $5::text = any(s.city_norms) then 1.0 else 0.85 end)
                as confidence
     from geocoder_streets s
     join geocoder_addresses a on a.street_id = s.id and a.housenumber_norm = $2::text
     where s.name_norm = $1::text
       and ($4::text = any(s.postcode_norms) or $5::text = any(s.city_norms))
     -- A tagged street is surer than the nearest one; a building's centroid stands for the
     -- address better than a shop or an entrance inside it.
     order by confidence desc, not a.street_from_tags, s.address_count desc,
              a.osm_ref like 'n%', a.id
     limit 1)
    union all
    --    ... then anywhere.
    (select 'rooftop', a.geom,
            (case when $4::text is null then 1.0 else 0.8 end)
            * (case when $5::text is null then 1.0 else 0.85 end)
     from geocoder_addresses a
     join geocoder_streets s on s.id = a.street_id
     where a.street_norm = $1::text and a.housenumber_norm = $2::text
     order by not a.street_from_tags, s.address_count desc, a.osm_ref like 'n%', a.id
     limit 1)
    union all
    -- 2. The number on a street with a similar name, about as similar as the best one (and
    --    exactly named if the best is): a number missing from the street asked for is
    --    interpolated there, not taken from a look-alike street.
    (select 'rooftop', a.geom, 0.9 * r.score * r.agree
     from ranked r
     cross join best b
     join geocoder_addresses a on a.street_id = r.id
     where a.housenumber_norm = $2::text
       and r.score >= b.score - 0.1 and (b.score < 1.0 or r.score = 1.0)
     order by r.rank_score desc, not a.street_from_tags, r.address_count desc,
              a.osm_ref like 'n%', a.id
     limit 1)
    union all
    -- 3. The same integer with another suffix ("12b" for "12"), or inside a range ("12-16").
    (select 'interpolated', a.geom, 0.75 * b.score * b.agree
     from best b
     join geocoder_addresses a on a.street_id = b.id
     where a.number <= $3::int and coalesce(a.number_end, a.number) >= $3::int
     order by a.number desc, a.housenumber_norm, a.osm_ref like 'n%', a.id
     limit 1)
    union all
    -- 4. Along a mapped interpolation line.
    (select 'interpolated',
            ST_LineInterpolatePoint(i.geom,
                case when i.end_number = i.start_number then 0.0
                     else ($3::int - i.start_number)::float8 / (i.end_number - i.start_number)
                end),
            0.7 * b.score * b.agree
     from best b
     join geocoder_interpolations i on i.street_id = b.id
     where $3::int between least(i.start_number, i.end_number)
                       and greatest(i.start_number, i.end_number)
       and (i.step = 1 or ($3::int - i.start_number) % 2 = 0)
     order by abs(i.end_number - i.start_number), i.id
     limit 1)
    union all
    -- 5. Between the nearest lower and higher numbers on the street.
    (select 'interpolated',
            ST_SetSRID(ST_MakePoint(ST_X(p.g0) + t.f * (ST_X(p.g1) - ST_X(p.g0)),
                                    ST_Y(p.g0) + t.f * (ST_Y(p.g1) - ST_Y(p.g0))), 4326),
            (case when ST_DistanceSphere(p.g0, p.g1) > 500 then 0.45 else 0.65 end)
                * b.score * b.agree
     from pair p
     cross join best b
     cross join lateral (
         select least(1.0, greatest(0.0,
                    ($3::int - p.n0)::float8 / greatest(p.n1 - p.n0, 1))) as f
     ) t)
    union all
    -- 6. The nearest number on the street when the number is outside the known ones: a
    --    point on the street, not a claim about the house.
    (select 'street', a.geom, 0.5 * b.score * b.agree
     from best b
     join geocoder_addresses a on a.street_id = b.id
     where a.number is not null and $3::int is not null
     order by abs(a.number - $3::int) + case when a.number % 2 = $3::int % 2 then 0 else 2 end,
              a.number, a.id
     limit 1)
    union all
    -- 7. The street: its middle, or the part in the postcode asked for when it runs through
    --    several (a postcode covering the whole town would only pull the point to one end).
    (select 'street',
            coalesce(case when cardinality(b.postcode_norms) > 1 and b.pc_ok
                          then ST_ClosestPoint(b.geom, (select center from pc)) end,
                     b.center),
            0.45 * b.score * b.agree
     from best b)
    union all
    -- 8. The postcode.
    (select 'postal_code', pc.center, 0.35 from pc)
    union all
    -- 9. The locality, exactly named; near the postcode if there is one.
    (select 'locality', p.center, case when p.rank <= 3 then 0.25 else 0.2 end
     from geocoder_places p
     where p.name_norm = $5::text
     order by p.rank, coalesce(ST_Distance(p.center, (select center from pc)), 0), p.id
     limit 1)
    union all
    -- 10. The locality, similarly named.
    (select 'locality', p.center, 0.15
     from geocoder_places p
     where p.name_norm % $5::text and similarity(p.name_norm, $5::text) >= 0.5
     order by similarity(p.name_norm, $5::text) desc, p.rank, p.id
     limit 1)
)
select precision, ST_X(geom) as lon, ST_Y(geom) as lat, confidence::float8 as confidence
from tiers
limit 1
