//! A plan as Mapbox Vector Tiles for the planner map: territory shapes and accounts, cut and
//! encoded by PostGIS (`ST_AsMVT`), accounts thinned at low zooms so a tile stays small.

use crate::db::Bind;
use std::fmt;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgExecutor;
use thiserror::Error;
use uuid::Uuid;

/// The deepest zoom a tile may be asked for.
pub const MAX_ZOOM: u8 = 22;
/// The zoom the tile set advertises as its deepest: its tiles hold every account at positions
/// precise to about a metre, so maps stretch them beyond instead of asking for more.
pub const DETAIL_MAX_ZOOM: u8 = 14;
/// Below this zoom accounts are thinned (one per grid cell); from it on every account is in.
pub const THIN_BELOW_ZOOM: u8 = 12;
/// Tile coordinate units per side (the MVT default).
const EXTENT: u32 = 4096;
/// Units drawn beyond each tile edge, so points and outlines crossing an edge render whole.
const BUFFER: u32 = 64;
/// Side of a thinning cell, in tile units: 64 × 64 cells per tile, 8 px apart on the 512 px
/// tiles MapLibre draws, about a point's diameter. Equal to `BUFFER` on purpose: the buffer
/// strip is then exactly one cell of the neighbouring tile, so both pick the same account.
const THIN_CELL: u32 = 64;

/// Why a tile address was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TileError {
    #[error("tile {0} must be a whole number")]
    NotANumber(&'static str),
    #[error("zoom {0} is deeper than the deepest zoom, {MAX_ZOOM}")]
    TooDeep(u32),
    #[error("tile {0} is too large")]
    TooLarge(&'static str),
    #[error("tile {axis} {value} is outside 0..{side} at zoom {zoom}", side = 1u64 << .zoom)]
    OutOfRange {
        axis: &'static str,
        value: u32,
        zoom: u8,
    },
}

/// A tile of the XYZ scheme (Web Mercator, y growing southwards): zoom at most `MAX_ZOOM`,
/// x and y in `0..2^z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileId {
    z: u8,
    x: u32,
    y: u32,
}

impl TileId {
    /// ```
    /// use terrane::territory::tiles::TileId;
    /// assert!(TileId::new(0, 0, 0).is_ok());
    /// assert!(TileId::new(2, 4, 0).is_err());
    /// assert!(TileId::new(23, 0, 0).is_err());
    /// ```
    pub fn new(z: u32, x: u32, y: u32) -> Result<Self, TileError> {
        let zoom = u8::try_from(z)
            .ok()
            .filter(|z| *z <= MAX_ZOOM)
            .ok_or(TileError::TooDeep(z))?;
        let side = 1u64 << zoom;
        for (axis, value) in [("x", x), ("y", y)] {
            if u64::from(value) >= side {
                return Err(TileError::OutOfRange { axis, value, zoom });
            }
        }
        Ok(Self { z: zoom, x, y })
    }

    /// Parses the path segments of `/{z}/{x}/{y}`; `y` may end in `.mvt` or `.pbf`.
    ///
    /// ```
    /// use terrane::territory::tiles::TileId;
    /// assert_eq!(TileId::parse("3", "4", "2.mvt"), TileId::new(3, 4, 2));
    /// assert!(TileId::parse("3", "-1", "2").is_err());
    /// ```
    pub fn parse(z: &str, x: &str, y: &str) -> Result<Self, TileError> {
        let y = y
            .strip_suffix(".mvt")
            .or_else(|| y.strip_suffix(".pbf"))
            .unwrap_or(y);
        Self::new(number("z", z)?, number("x", x)?, number("y", y)?)
    }

    pub fn z(self) -> u8 {
        self.z
    }

    pub fn x(self) -> u32 {
        self.x
    }

    pub fn y(self) -> u32 {
        self.y
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Digits only: no sign, no spaces, no exponent.
fn number(what: &'static str, s: &str) -> Result<u32, TileError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TileError::NotANumber(what));
    }
    // Only overflow is left: such a number is out of range at any zoom.
    s.parse().map_err(|_| TileError::TooLarge(what))
}

/// The accounts a tile shows, as `(id, count)`: at thinned zooms, per grid cell the account of
/// highest value (ties: lowest id) with the number of accounts in its cell. The cell is computed
/// from longitude and latitude with the Web Mercator formulas (no reprojection per account);
/// `$2` is the zoom. Cells are aligned on the whole world's grid, so tiles agree on them.
static THINNED: LazyLock<String> = LazyLock::new(|| {
    let cells_per_tile = EXTENT / THIN_CELL;
    format!(
        "with candidates as materialized (
             select a.id, a.annual_value,
                    floor((st_x(a.location) + 180) / 360 * power(2, $2) * {cells_per_tile}) as cx,
                    floor((1 - asinh(tan(radians(st_y(a.location)))) / pi()) / 2
                          * power(2, $2) * {cells_per_tile}) as cy
             from plan_assignments pa
             join accounts a on a.id = pa.account_id
             where pa.plan_id = $1 and {IN_SEARCH_BOX}
         ), cells as (
             select cx, cy, count(*) as count, max(annual_value) as top
             from candidates group by cx, cy
         )
         select distinct on (c.cx, c.cy) c.id, cells.count
         from candidates c
         join cells on cells.cx = c.cx and cells.cy = c.cy and cells.top = c.annual_value
         order by c.cx, c.cy, c.id"
    )
});

/// Every account in the tile (and its buffer), each standing for itself.
static EVERY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select a.id, 1::int8 as count
         from plan_assignments pa
         join accounts a on a.id = pa.account_id
         where pa.plan_id = $1 and {IN_SEARCH_BOX}"
    )
});

/// An account is in the tile or its buffer: a box test the spatial index of
/// `accounts.location` answers (the tile grown by the buffer, in longitude and latitude).
const IN_SEARCH_BOX: &str =
    "a.location && st_transform(st_tileenvelope($2, $3, $4, margin => $5), 4326)";

/// The tile: layer `territories` then layer `accounts` (`picked` gives the accounts). Ids are
/// text: MVT feature ids are integers, so clients promote the `id`/`territory_id` property.
fn tile_sql(picked: &str) -> String {
    format!(
        "with picked as materialized ({picked})
         select coalesce((
                    select st_asmvt(t, 'territories', {EXTENT}, 'geom')
                    from (select st_asmvtgeom(st_transform(pt.shape, 3857),
                                              st_tileenvelope($2, $3, $4), {EXTENT}, {BUFFER}, true) as geom,
                                 tr.id::text as territory_id, tr.name, tr.color
                          from plan_territories pt
                          join territories tr on tr.id = pt.territory_id
                          where pt.plan_id = $1 and pt.shape is not null
                            and pt.shape && st_transform(st_tileenvelope($2, $3, $4, margin => $5), 4326)
                          order by tr.name) t
                    where t.geom is not null), ''::bytea)
             || coalesce((
                    select st_asmvt(p, 'accounts', {EXTENT}, 'geom')
                    from (select st_asmvtgeom(st_transform(a.location, 3857),
                                              st_tileenvelope($2, $3, $4), {EXTENT}, {BUFFER}, true) as geom,
                                 a.id::text as id, a.name, a.tier::text as tier,
                                 a.annual_value::float8 as annual_value,
                                 round(pa.workload::numeric, 1)::float8 as workload,
                                 pa.territory_id::text as territory_id, pa.source::text as source,
                                 exists (select 1 from territory_locks l
                                         where l.account_id = a.id) as locked,
                                 k.count
                          from picked k
                          join accounts a on a.id = k.id and a.location is not null
                          join plan_assignments pa on pa.plan_id = $1 and pa.account_id = k.id
                          order by a.annual_value, a.id) p
                    where p.geom is not null), ''::bytea)"
    )
}

static TILE_THINNED: LazyLock<String> = LazyLock::new(|| tile_sql(&THINNED));
static TILE_EVERY: LazyLock<String> = LazyLock::new(|| tile_sql(&EVERY));

/// One tile of a plan as MVT bytes; empty when nothing of the plan is in it. Accounts are the
/// plan's located assignments (as `GET /api/plans/{id}/accounts` lists them) with properties
/// `id, name, tier, annual_value, workload, territory_id, source, locked, count`; below zoom
/// `THIN_BELOW_ZOOM` one per 64 × 64-unit cell (the most valuable; `count` says how many it
/// stands for), else all with `count` 1. Territories carry `territory_id, name, color`.
#[tracing::instrument(skip(conn, tile), fields(z = tile.z), err)]
pub async fn plan_tile(
    conn: &mut sqlx::PgConnection,
    plan_id: Uuid,
    tile: TileId,
) -> Result<Vec<u8>, sqlx::Error> {
    let sql = if tile.z < THIN_BELOW_ZOOM {
        TILE_THINNED.as_str()
    } else {
        TILE_EVERY.as_str()
    };
    let margin = f64::from(BUFFER) / f64::from(EXTENT);
    // x and y are below 2^22: they always fit.
    let (x, y) = (
        i32::try_from(tile.x).unwrap_or(i32::MAX),
        i32::try_from(tile.y).unwrap_or(i32::MAX),
    );
    // A town centre's tile is costed above PostgreSQL's JIT thresholds, and compiling it takes
    // longer than running it (measured: 0.94 s of JIT in a 0.87 s query that takes 0.24 s
    // without; docs/benchmarks.md, "vector tiles"), so JIT is off for this query only.
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(include_str!("sql/jit_off.sql"))
        .execute(&mut *tx)
        .await?;
    // Not a cached prepared statement: a generic plan would pick one way for every zoom, while
    // the best one differs (the spatial index for a street, the plan's rows for a country).
    let body = sqlx::query_scalar(sql)
        .persistent(false)
        .bind_all((plan_id, i32::from(tile.z), x, y, margin))
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(body)
}

/// The tile set of a plan as TileJSON 3.0: where its tiles are, their zooms, the plan's
/// bounds and the layers' fields.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TileJson {
    #[schema(value_type = String)]
    pub tilejson: &'static str,
    pub tiles: Vec<String>,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// West, south, east, north in degrees; absent when the plan has nothing located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds: Option<[f64; 4]>,
    /// The layers and their fields (TileJSON `vector_layers`).
    #[schema(value_type = Vec<Object>)]
    pub vector_layers: Value,
}

/// The TileJSON of a plan; `base_url` is where the server is reached (no trailing slash).
pub async fn tile_json(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
    base_url: &str,
) -> Result<TileJson, sqlx::Error> {
    let (west, south, east, north): (Option<f64>, Option<f64>, Option<f64>, Option<f64>) =
        sqlx::query_as(include_str!("sql/tiles_plan_bounds.sql"))
            .bind(plan_id)
            .fetch_one(db)
            .await?;
    let bounds = match (west, south, east, north) {
        (Some(w), Some(s), Some(e), Some(n)) => Some([w, s, e, n]),
        _ => None,
    };
    Ok(TileJson {
        tilejson: "3.0.0",
        tiles: vec![format!(
            "{base_url}/api/plans/{plan_id}/tiles/{{z}}/{{x}}/{{y}}"
        )],
        minzoom: 0,
        maxzoom: DETAIL_MAX_ZOOM,
        bounds,
        vector_layers: json!([
            {"id": "territories", "fields": {
                "territory_id": "String", "name": "String", "color": "String"}},
            {"id": "accounts", "fields": {
                "id": "String", "name": "String", "tier": "String", "annual_value": "Number",
                "workload": "Number", "territory_id": "String", "source": "String",
                "locked": "Boolean", "count": "Number"}},
        ]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_addresses_are_parsed_with_an_optional_suffix() {
        let t = TileId::parse("12", "2127", "1490.pbf").expect("valid");
        assert_eq!((t.z(), t.x(), t.y()), (12, 2127, 1490));
        assert_eq!(TileId::parse("0", "0", "0.mvt"), TileId::new(0, 0, 0));
        assert_eq!(
            TileId::parse("22", "4194303", "0"),
            TileId::new(22, 4_194_303, 0)
        );
        assert_eq!(t.to_string(), "12/2127/1490");
    }

    #[test]
    fn bad_tile_addresses_are_refused_with_a_reason() {
        assert_eq!(
            TileId::parse("a", "0", "0"),
            Err(TileError::NotANumber("z"))
        );
        assert_eq!(
            TileId::parse("1", "+1", "0"),
            Err(TileError::NotANumber("x"))
        );
        assert_eq!(
            TileId::parse("1", "0", "0.png"),
            Err(TileError::NotANumber("y"))
        );
        assert_eq!(TileId::parse("1", "0", ""), Err(TileError::NotANumber("y")));
        assert_eq!(TileId::parse("23", "0", "0"), Err(TileError::TooDeep(23)));
        assert_eq!(
            TileId::parse("0", "99999999999", "0"),
            Err(TileError::TooLarge("x"))
        );
        let err = TileId::parse("2", "4", "0").expect_err("x out of range");
        assert_eq!(err.to_string(), "tile x 4 is outside 0..4 at zoom 2");
        assert!(matches!(
            TileId::parse("0", "0", "1"),
            Err(TileError::OutOfRange { axis: "y", .. })
        ));
    }
}
