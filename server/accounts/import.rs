//! Whole accounts with their location, as the demo data set states them (`terrane seed`):
//! every column group at once, so this statement sits with the table's owner. A reload of the
//! same data changes nothing.

use crate::db::Bind;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::spatial::H3Cell;

/// Column values of the accounts to load, one entry per account, same order.
#[derive(Debug, Default)]
pub struct LocatedColumns {
    pub crm_source: Vec<String>,
    pub crm_id: Vec<String>,
    pub name: Vec<String>,
    pub industry: Vec<String>,
    pub house_number: Vec<Option<String>>,
    pub street: Vec<String>,
    pub postal_code: Vec<Option<String>>,
    pub city: Vec<String>,
    pub country_code: Vec<String>,
    pub lon: Vec<f64>,
    pub lat: Vec<f64>,
    pub h3: Vec<H3Cell>,
    pub tier: Vec<String>,
    pub annual_value: Vec<f64>,
    pub visits: Vec<i32>,
    pub priority: Vec<i16>,
    pub owner: Vec<String>,
    pub synthetic: Vec<bool>,
}

/// Inserts or updates each account by `(crm_source, crm_id)`, located (geocoded by the source:
/// `rooftop`, confidence 1) and owned by the rep holding its CRM owner id; rows whose content
/// is the same are not touched. Returns one flag per written row: `true` inserted, `false`
/// updated (unchanged rows are absent).
pub async fn upsert_located(
    db: &mut PgConnection,
    c: &LocatedColumns,
) -> Result<Vec<bool>, sqlx::Error> {
    sqlx::query_scalar(
        r"
        insert into accounts (
            crm_source, crm_id, name, industry, house_number, street, postal_code, city,
            country_code, location, geocode_status, geocode_precision, geocode_confidence,
            geocode_source, geocoded_at, h3_cell, tier, annual_value, visits_per_year, priority,
            owner_rep_id, crm_owner_id, synthetic
        )
        select t.crm_source, t.crm_id, t.name, t.industry, t.house_number, t.street, t.postal_code, t.city,
               t.country_code, st_setsrid(st_makepoint(t.lon, t.lat), 4326), 'ok', 'rooftop', 1.0,
               'seed', now(), t.h3, t.tier::account_tier, t.annual_value, t.visits, t.priority,
               r.id, t.owner, t.synthetic
        from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::text[], $10::float8[], $11::float8[], $12::int8[],
                    $13::text[], $14::float8[], $15::int4[], $16::int2[], $17::text[],
                    $18::bool[])
             as t(crm_source, crm_id, name, industry, house_number, street, postal_code, city, country_code,
                  lon, lat, h3, tier, annual_value, visits, priority, owner, synthetic)
        left join reps r on r.crm_owner_id = t.owner
        on conflict on constraint accounts_crm_key do update set
            name = excluded.name, industry = excluded.industry,
            house_number = excluded.house_number, street = excluded.street,
            postal_code = excluded.postal_code, city = excluded.city,
            country_code = excluded.country_code, location = excluded.location,
            geocode_status = excluded.geocode_status,
            geocode_precision = excluded.geocode_precision,
            geocode_confidence = excluded.geocode_confidence,
            geocode_source = excluded.geocode_source, geocoded_at = excluded.geocoded_at,
            h3_cell = excluded.h3_cell, tier = excluded.tier,
            annual_value = excluded.annual_value, visits_per_year = excluded.visits_per_year,
            priority = excluded.priority, owner_rep_id = excluded.owner_rep_id,
            crm_owner_id = excluded.crm_owner_id,
            synthetic = excluded.synthetic, deleted_at = null
        -- Only rows whose content differs are touched, so a reload changes nothing.
        where (accounts.name, accounts.industry, accounts.house_number, accounts.street,
               accounts.postal_code, accounts.city, accounts.country_code,
               accounts.h3_cell, accounts.tier, accounts.annual_value,
               accounts.visits_per_year, accounts.priority, accounts.owner_rep_id,
               accounts.crm_owner_id, accounts.synthetic, accounts.deleted_at is null,
               st_equals(accounts.location, excluded.location))
              is distinct from
              (excluded.name, excluded.industry, excluded.house_number, excluded.street,
               excluded.postal_code, excluded.city, excluded.country_code,
               excluded.h3_cell, excluded.tier, excluded.annual_value,
               excluded.visits_per_year, excluded.priority, excluded.owner_rep_id,
               excluded.crm_owner_id, excluded.synthetic, true, true)
        returning (xmax = 0) as inserted
        ",
    )
    .bind_all((&c.crm_source, &c.crm_id, &c.name, &c.industry, &c.house_number, &c.street, &c.postal_code, &c.city, &c.country_code, &c.lon, &c.lat, &c.h3, &c.tier, &c.annual_value, &c.visits, &c.priority, &c.owner, &c.synthetic))
    .fetch_all(db)
    .await
}

/// Column values of a synthetic book of accounts (benchmarks), one entry per account: fixed
/// ids so runs with the same seed order the book the same way, located, owned by `owner`.
#[derive(Debug, Default)]
pub struct SyntheticColumns {
    pub id: Vec<Uuid>,
    pub crm_id: Vec<String>,
    pub name: Vec<String>,
    pub lon: Vec<f64>,
    pub lat: Vec<f64>,
    pub h3: Vec<H3Cell>,
    pub tier: Vec<&'static str>,
    pub annual_value: Vec<f64>,
    pub visits: Vec<i32>,
    pub owner: Vec<Uuid>,
}

/// Inserts a synthetic book under the source `bench`, every account flagged `synthetic`.
pub async fn insert_synthetic(
    db: &mut PgConnection,
    c: &SyntheticColumns,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into accounts (id, crm_source, crm_id, name, location, geocode_status,
                               geocode_precision, geocode_confidence, geocode_source,
                               geocoded_at, h3_cell, tier, annual_value, visits_per_year,
                               owner_rep_id, synthetic)
         select t.id, 'bench', t.crm_id, t.name, st_setsrid(st_makepoint(t.lon, t.lat), 4326),
                'ok', 'rooftop', 1.0, 'bench', now(), t.h3, t.tier::account_tier, t.value,
                t.visits, t.owner, true
         from unnest($1::uuid[], $2::text[], $3::text[], $4::float8[], $5::float8[],
                     $6::int8[], $7::text[], $8::float8[], $9::int4[], $10::uuid[])
              as t(id, crm_id, name, lon, lat, h3, tier, value, visits, owner)",
    )
    .bind_all((
        &c.id,
        &c.crm_id,
        &c.name,
        &c.lon,
        &c.lat,
        &c.h3,
        &c.tier,
        &c.annual_value,
        &c.visits,
        &c.owner,
    ))
    .execute(db)
    .await?;
    Ok(())
}

/// Places synthetic accounts (the live simulator's book): `territory[i]` and `priority[i]` for
/// account `id[i]`; an account placed in no territory is unassigned and has no owner either.
pub async fn place_synthetic(
    db: &mut PgConnection,
    id: &[Uuid],
    territory: &[Option<Uuid>],
    priority: &[i16],
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update accounts a
         set territory_id = t.territory, priority = t.priority,
             owner_rep_id = case when t.territory is null then null else a.owner_rep_id end
         from unnest($1::uuid[], $2::uuid[], $3::int2[]) as t(id, territory, priority)
         where a.id = t.id and a.synthetic",
    )
    .bind_all((id, territory, priority))
    .execute(db)
    .await?
    .rows_affected())
}
