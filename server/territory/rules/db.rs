//! Stored rules: the SQL that reads, writes, orders and evaluates a team's rules.

use crate::db::Bind;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Claim, Rule, ValidRule, invalid};
use crate::territory::TerritoryError;

const RULE_COLUMNS: &str = "id, position, kind, territory_id, name, enabled, postal_codes, \
     postal_prefixes, country_code, st_asgeojson(area)::jsonb as area, predicate, account_ids";

/// The team's rules in order.
pub async fn list(db: impl PgExecutor<'_>, team_id: Uuid) -> Result<Vec<Rule>, sqlx::Error> {
    sqlx::query_as::<_, Rule>(&format!(
        "select {RULE_COLUMNS} from territory_rules where team_id = $1 order by position"
    ))
    .bind(team_id)
    .fetch_all(db)
    .await
}

/// The team a rule belongs to.
pub async fn team_of(db: impl PgExecutor<'_>, rule_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select team_id from territory_rules where id = $1")
        .bind(rule_id)
        .fetch_optional(db)
        .await
}

/// Why PostGIS refuses an area, if it does (self-intersections and the like).
async fn area_problem(
    db: &mut sqlx::PgConnection,
    geojson: &str,
) -> Result<Option<String>, sqlx::Error> {
    let (valid, reason): (bool, String) = sqlx::query_as(
        "select st_isvalid(g), st_isvalidreason(g)
         from (select st_setsrid(st_geomfromgeojson($1), 4326) as g) x",
    )
    .bind(geojson)
    .fetch_one(&mut *db)
    .await?;
    Ok((!valid).then_some(reason))
}

/// What only the database can check: the territory is the team's, PostGIS accepts the area.
async fn check_stored(
    conn: &mut sqlx::PgConnection,
    team_id: Uuid,
    rule: &ValidRule,
) -> Result<(), TerritoryError> {
    check_territory(&mut *conn, team_id, rule.territory_id).await?;
    if let Some(geojson) = &rule.area_geojson
        && let Some(reason) = area_problem(&mut *conn, geojson).await?
    {
        return Err(invalid(format!(
            "the area is not a valid polygon ({reason})"
        )));
    }
    Ok(())
}

/// Stores a checked rule at `position` (the end when `None`), shifting later ones.
pub async fn create(
    conn: &mut sqlx::PgConnection,
    team_id: Uuid,
    rule: &ValidRule,
    position: Option<i32>,
) -> Result<Rule, TerritoryError> {
    check_stored(&mut *conn, team_id, rule).await?;
    let count: i64 = sqlx::query_scalar("select count(*) from territory_rules where team_id = $1")
        .bind(team_id)
        .fetch_one(&mut *conn)
        .await?;
    let at = position.map_or(count, |p| i64::from(p.max(0)).min(count));
    sqlx::query(
        "update territory_rules set position = position + 1 where team_id = $1 and position >= $2",
    )
    .bind_all((team_id, at))
    .execute(&mut *conn)
    .await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into territory_rules (team_id, position, kind, territory_id, name, enabled,
             postal_codes, postal_prefixes, country_code, area, predicate, account_ids)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                 st_multi(st_setsrid(st_geomfromgeojson($10), 4326)), $11, $12)
         returning id",
    )
    .bind_all((
        team_id,
        i32::try_from(at).unwrap_or(i32::MAX),
        rule.kind,
        rule.territory_id,
        &rule.name,
        rule.enabled,
        &rule.postal_codes,
        &rule.postal_prefixes,
        &rule.country_code,
        &rule.area_geojson,
        &rule.predicate,
        &rule.account_ids,
    ))
    .fetch_one(&mut *conn)
    .await?;
    get(&mut *conn, id).await?.ok_or(TerritoryError::NotFound)
}

/// Replaces a rule's content (its position stays).
pub async fn update(
    conn: &mut sqlx::PgConnection,
    rule_id: Uuid,
    rule: &ValidRule,
) -> Result<Rule, TerritoryError> {
    let team_id = team_of(&mut *conn, rule_id)
        .await?
        .ok_or(TerritoryError::NotFound)?;
    check_stored(&mut *conn, team_id, rule).await?;
    sqlx::query(
        "update territory_rules set kind = $2, territory_id = $3, name = $4, enabled = $5,
             postal_codes = $6, postal_prefixes = $7, country_code = $8,
             area = st_multi(st_setsrid(st_geomfromgeojson($9), 4326)), predicate = $10,
             account_ids = $11
         where id = $1",
    )
    .bind_all((
        rule_id,
        rule.kind,
        rule.territory_id,
        &rule.name,
        rule.enabled,
        &rule.postal_codes,
        &rule.postal_prefixes,
        &rule.country_code,
        &rule.area_geojson,
        &rule.predicate,
        &rule.account_ids,
    ))
    .execute(&mut *conn)
    .await?;
    get(&mut *conn, rule_id)
        .await?
        .ok_or(TerritoryError::NotFound)
}

pub async fn get(db: impl PgExecutor<'_>, rule_id: Uuid) -> Result<Option<Rule>, sqlx::Error> {
    sqlx::query_as::<_, Rule>(&format!(
        "select {RULE_COLUMNS} from territory_rules where id = $1"
    ))
    .bind(rule_id)
    .fetch_optional(db)
    .await
}

/// Deletes a rule and closes the gap in the order.
pub async fn delete(conn: &mut sqlx::PgConnection, rule_id: Uuid) -> Result<bool, sqlx::Error> {
    let gone: Option<(Uuid, i32)> =
        sqlx::query_as("delete from territory_rules where id = $1 returning team_id, position")
            .bind(rule_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((team_id, position)) = gone {
        sqlx::query(
            "update territory_rules set position = position - 1
             where team_id = $1 and position > $2",
        )
        .bind_all((team_id, position))
        .execute(&mut *conn)
        .await?;
    }
    Ok(gone.is_some())
}

/// Puts the team's rules in the given order; `ids` must name each rule once.
pub async fn reorder(
    conn: &mut sqlx::PgConnection,
    team_id: Uuid,
    ids: &[Uuid],
) -> Result<(), TerritoryError> {
    let mut current: Vec<Uuid> =
        sqlx::query_scalar("select id from territory_rules where team_id = $1")
            .bind(team_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut wanted = ids.to_vec();
    current.sort();
    wanted.sort();
    if current != wanted {
        return Err(invalid(
            "the new order must list each of the team's rules once",
        ));
    }
    // The unique (team, position) constraint is deferred, so the swap can pass through
    // duplicates inside the transaction.
    sqlx::query(
        "update territory_rules r set position = o.ord - 1
         from unnest($1::uuid[]) with ordinality as o(id, ord)
         where r.id = o.id",
    )
    .bind(ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn check_territory(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
    territory_id: Uuid,
) -> Result<(), TerritoryError> {
    let ok: bool = sqlx::query_scalar(
        "select exists (select 1 from territories where id = $1 and team_id = $2)",
    )
    .bind_all((territory_id, team_id))
    .fetch_one(db)
    .await?;
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "territory_id is not one of this team's territories",
        ))
    }
}

/// For each of the team's accounts (or only those in `only`) that a lock or an enabled rule
/// claims, the first claim by precedence (lock, named rules, other rules in order).
pub async fn claims(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
    only: Option<&[Uuid]>,
) -> Result<Vec<Claim>, sqlx::Error> {
    sqlx::query_as::<_, Claim>(include_str!("../sql/claims.sql"))
        .bind_all((team_id, only))
        .fetch_all(db)
        .await
}
