//! Vector tiles of a plan (`GET /api/plans/{id}/tiles/{z}/{x}/{y}`) on the demo data: the
//! tiles over the accounts hold the plan's territories and accounts as the GeoJSON has them,
//! low zooms are thinned, far tiles are empty, bad addresses and other teams are refused.

use crate::helpers::scalar;
use crate::helpers::{json_of, send_get};
use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::PI;

use geozero::mvt::tile::{GeomType, Layer, Value as MvtValue};
use geozero::mvt::{Message, Tile};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use terrane::territory::plans::{self, NewPlan};
use terrane::territory::teams;

use crate::helpers::{TestApp, seed_demo, spawn_app, team_of_territory};

const MVT: &str = "application/vnd.mapbox-vector-tile";

/// Team A's plan of today's territories, as a manager of Team A sees it.
async fn team_a_plan(pool: &PgPool) -> Uuid {
    let team: Uuid = scalar(pool, "select id from teams where name = 'Team A'").await;
    // As the API takes it, so settings added later keep their defaults here.
    let new: NewPlan = serde_json::from_value(json!({"name": "Tiles", "method": "current"}))
        .expect("a plan request");
    let id = plans::create(pool, team, None, &new)
        .await
        .expect("plan created");
    plans::generate(pool, id).await.expect("plan generated");
    id
}

/// The tile holding a point (longitude, latitude in degrees) at zoom `z`.
fn tile_at(z: u8, lon: f64, lat: f64) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / PI) / 2.0 * n).floor();
    (x as u32, y as u32)
}

/// Longitude and latitude of a point at tile-local `(px, py)` (0..4096) of tile z/x/y.
fn lon_lat_of(z: u8, x: u32, y: u32, px: f64, py: f64) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let lon = (f64::from(x) + px / 4096.0) / n * 360.0 - 180.0;
    let lat = (PI * (1.0 - 2.0 * (f64::from(y) + py / 4096.0) / n))
        .sinh()
        .atan()
        .to_degrees();
    (lon, lat)
}

/// An account of the plan as the tiles must show it.
struct Account {
    name: String,
    tier: String,
    territory_id: String,
    locked: bool,
    annual_value: f64,
    lon: f64,
    lat: f64,
}

/// The plan's accounts and territories as the tiles must show them.
struct Expected {
    /// By account id.
    accounts: BTreeMap<String, Account>,
    /// Territory id → (name, colour).
    territories: BTreeMap<String, (String, String)>,
}

async fn expected(pool: &PgPool, plan: Uuid) -> Expected {
    type AccountRow = (String, String, String, String, bool, f64, f64, f64);
    let rows: Vec<AccountRow> = sqlx::query_as(
        "select a.id::text, a.name, a.tier::text, pa.territory_id::text,
                exists (select 1 from territory_locks l where l.account_id = a.id),
                a.annual_value::float8, st_x(a.location), st_y(a.location)
         from plan_assignments pa join accounts a on a.id = pa.account_id
         where pa.plan_id = $1 and a.location is not null",
    )
    .bind(plan)
    .fetch_all(pool)
    .await
    .expect("plan accounts");
    let territories: Vec<(String, String, String)> = sqlx::query_as(
        "select t.id::text, t.name, t.color from plan_territories pt
         join territories t on t.id = pt.territory_id
         where pt.plan_id = $1 and pt.shape is not null",
    )
    .bind(plan)
    .fetch_all(pool)
    .await
    .expect("plan territories");
    Expected {
        accounts: rows
            .into_iter()
            .map(
                |(id, name, tier, territory_id, locked, annual_value, lon, lat)| {
                    let account = Account {
                        name,
                        tier,
                        territory_id,
                        locked,
                        annual_value,
                        lon,
                        lat,
                    };
                    (id, account)
                },
            )
            .collect(),
        territories: territories
            .into_iter()
            .map(|(id, name, color)| (id, (name, color)))
            .collect(),
    }
}

/// A decoded feature: its properties and, for points, its tile-local position.
#[derive(Debug, Clone)]
struct Feature {
    props: BTreeMap<String, Prop>,
    point: Option<(f64, f64)>,
    kind: GeomType,
}

#[derive(Debug, Clone, PartialEq)]
enum Prop {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl Feature {
    fn text(&self, key: &str) -> &str {
        match self.props.get(key) {
            Some(Prop::Text(s)) => s,
            other => panic!("{key} should be text, is {other:?}"),
        }
    }

    fn number(&self, key: &str) -> f64 {
        match self.props.get(key) {
            Some(Prop::Number(n)) => *n,
            other => panic!("{key} should be a number, is {other:?}"),
        }
    }

    fn flag(&self, key: &str) -> bool {
        match self.props.get(key) {
            Some(Prop::Bool(b)) => *b,
            other => panic!("{key} should be a boolean, is {other:?}"),
        }
    }
}

fn prop(v: &MvtValue) -> Prop {
    if let Some(s) = &v.string_value {
        Prop::Text(s.clone())
    } else if let Some(b) = v.bool_value {
        Prop::Bool(b)
    } else if let Some(d) = v.double_value {
        Prop::Number(d)
    } else if let Some(f) = v.float_value {
        Prop::Number(f64::from(f))
    } else if let Some(i) = v.int_value.or(v.sint_value) {
        Prop::Number(i as f64)
    } else if let Some(u) = v.uint_value {
        Prop::Number(u as f64)
    } else {
        panic!("a value without a type: {v:?}")
    }
}

fn zigzag(n: u32) -> f64 {
    f64::from((n >> 1) as i32 ^ -((n & 1) as i32))
}

fn features(layer: &Layer) -> Vec<Feature> {
    layer
        .features
        .iter()
        .map(|f| {
            let props = f
                .tags
                .chunks(2)
                .map(|kv| {
                    (
                        layer.keys[kv[0] as usize].clone(),
                        prop(&layer.values[kv[1] as usize]),
                    )
                })
                .collect();
            let kind = f.r#type();
            // A point is one MoveTo (command 1, count 1) and its zigzag-encoded x, y.
            let point = (kind == GeomType::Point).then(|| {
                assert_eq!(f.geometry[0], 9, "one point per account feature");
                (zigzag(f.geometry[1]), zigzag(f.geometry[2]))
            });
            Feature { props, point, kind }
        })
        .collect()
}

/// Layer name → its features.
fn decode(body: &[u8]) -> BTreeMap<String, Vec<Feature>> {
    let tile = Tile::decode(body).expect("the body is a vector tile");
    tile.layers
        .iter()
        .map(|layer| {
            assert_eq!(layer.extent, Some(4096), "layer {}", layer.name);
            (layer.name.clone(), features(layer))
        })
        .collect()
}

async fn tile(
    client: &reqwest::Client,
    app: &TestApp,
    plan: Uuid,
    z: u8,
    x: u32,
    y: u32,
) -> Vec<u8> {
    let r = send_get(client, app, &format!("/api/plans/{plan}/tiles/{z}/{x}/{y}")).await;
    match r.status().as_u16() {
        204 => Vec::new(),
        200 => {
            assert_eq!(r.headers()["content-type"], MVT);
            r.bytes().await.expect("tile body").to_vec()
        }
        other => panic!("tile {z}/{x}/{y} answered {other}"),
    }
}

/// The tiles of zoom `z` covering every account of the plan.
fn covering(z: u8, e: &Expected) -> Vec<(u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for a in e.accounts.values() {
        let (x, y) = tile_at(z, a.lon, a.lat);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    (x0..=x1)
        .flat_map(|x| (y0..=y1).map(move |y| (x, y)))
        .collect()
}

#[sqlx::test]
async fn the_tiles_over_the_accounts_hold_every_territory_and_account_of_the_plan(pool: PgPool) {
    seed_demo(&pool).await;
    let plan = team_a_plan(&pool).await;
    // A locked account, and one deleted in the CRM since the plan was made: the plan (and its
    // GeoJSON) still has it, so its tiles do too.
    let (locked_id, locked_territory): (Uuid, Uuid) = sqlx::query_as(
        "select account_id, territory_id from plan_assignments where plan_id = $1
         order by account_id limit 1",
    )
    .bind(plan)
    .fetch_one(&pool)
    .await
    .expect("an account");
    teams::lock(
        &pool,
        team_of_territory(&pool, locked_territory).await,
        locked_id,
        locked_territory,
        None,
        "",
    )
    .await
    .expect("lock");
    sqlx::query(
        "update accounts set deleted_at = now() where id = (
             select account_id from plan_assignments where plan_id = $1
             order by account_id desc limit 1)",
    )
    .bind(plan)
    .execute(&pool)
    .await
    .expect("delete one");
    let want = expected(&pool, plan).await;
    assert!(
        want.accounts.len() > 100,
        "{} accounts",
        want.accounts.len()
    );
    assert_eq!(want.territories.len(), 3);

    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;

    // Zoom 12: no thinning. Each account once per tile holding it (or its buffer); together
    // the tiles hold exactly the plan's accounts, with their properties and positions.
    let z = 12;
    let mut seen_accounts = BTreeSet::new();
    let mut seen_territories = BTreeSet::new();
    for (x, y) in covering(z, &want) {
        let layers = decode(&tile(&manager, &app, plan, z, x, y).await);
        for f in layers.get("territories").into_iter().flatten() {
            let id = f.text("territory_id").to_owned();
            let (name, color) = want.territories.get(&id).expect("a territory of the plan");
            assert_eq!(
                (f.text("name"), f.text("color")),
                (name.as_str(), color.as_str())
            );
            assert!(matches!(f.kind, GeomType::Polygon), "{:?}", f.kind);
            seen_territories.insert(id);
        }
        let accounts = layers.get("accounts").cloned().unwrap_or_default();
        let ids: BTreeSet<&str> = accounts.iter().map(|f| f.text("id")).collect();
        assert_eq!(ids.len(), accounts.len(), "each account once per tile");
        for f in &accounts {
            let id = f.text("id");
            let a = want.accounts.get(id).expect("an account of the plan");
            assert_eq!(f.text("name"), a.name);
            assert_eq!(f.text("tier"), a.tier);
            assert_eq!(f.text("territory_id"), a.territory_id);
            assert_eq!(f.text("source"), "current");
            assert_eq!(f.flag("locked"), a.locked, "{id}");
            assert!((f.number("annual_value") - a.annual_value).abs() < 0.01);
            assert!(f.number("workload") >= 0.0);
            assert!((f.number("count") - 1.0).abs() < f64::EPSILON);
            // Where the tile draws it is where it is (a tile unit is ~2 m at zoom 12).
            let (px, py) = f.point.expect("a point");
            let (at_lon, at_lat) = lon_lat_of(z, x, y, px, py);
            assert!(
                (at_lon - a.lon).abs() < 1e-4 && (at_lat - a.lat).abs() < 1e-4,
                "{id} drawn at {at_lon},{at_lat}, is at {},{}",
                a.lon,
                a.lat
            );
            // Inside the tile proper, or in its 64-unit buffer.
            assert!((-64.0..=4160.0).contains(&px) && (-64.0..=4160.0).contains(&py));
            // (Not right at an edge, where rounding to a tile unit may cross it.)
            if (1.0..4095.0).contains(&px) && (1.0..4095.0).contains(&py) {
                assert_eq!(tile_at(z, a.lon, a.lat), (x, y), "{id} is in this tile");
            }
            seen_accounts.insert(id.to_owned());
        }
    }
    let want_ids: BTreeSet<String> = want.accounts.keys().cloned().collect();
    assert_eq!(seen_accounts, want_ids);
    assert_eq!(
        seen_territories,
        want.territories.keys().cloned().collect::<BTreeSet<_>>()
    );
    assert!(seen_accounts.contains(&locked_id.to_string()));

    // The same accounts as the GeoJSON the page loads for small plans.
    let geojson: Value = json_of(&manager, &app, &format!("/api/plans/{plan}/accounts")).await;
    let geojson_ids: BTreeSet<String> = geojson["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["properties"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(seen_accounts, geojson_ids);
}

#[sqlx::test]
async fn low_zooms_thin_the_accounts_to_one_per_cell_with_its_count(pool: PgPool) {
    seed_demo(&pool).await;
    let plan = team_a_plan(&pool).await;
    let want = expected(&pool, plan).await;
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;

    // The deepest zoom below 12 where one tile holds the whole plan.
    let z = (0..12u8)
        .rev()
        .find(|z| covering(*z, &want).len() == 1)
        .expect("some zoom holds the plan in one tile");
    let (x, y) = covering(z, &want)[0];
    let layers = decode(&tile(&manager, &app, plan, z, x, y).await);
    let accounts = &layers["accounts"];
    assert!(
        accounts.len() < want.accounts.len(),
        "zoom {z}: {} features for {} accounts",
        accounts.len(),
        want.accounts.len()
    );
    // Every account is counted once, by the most valuable account of its cell.
    let counted: f64 = accounts.iter().map(|f| f.number("count")).sum();
    assert!((counted - want.accounts.len() as f64).abs() < f64::EPSILON);
    let ids: BTreeSet<&str> = accounts.iter().map(|f| f.text("id")).collect();
    assert_eq!(ids.len(), accounts.len());
    assert!(ids.iter().all(|id| want.accounts.contains_key(*id)));
    let most_valuable = want
        .accounts
        .iter()
        .max_by(|(id_a, a), (id_b, b)| {
            a.annual_value
                .total_cmp(&b.annual_value)
                .then(id_b.cmp(id_a))
        })
        .map(|(id, _)| id.as_str())
        .expect("accounts");
    assert!(
        ids.contains(most_valuable),
        "the most valuable account is drawn"
    );
    assert_eq!(layers["territories"].len(), 3);
}

#[sqlx::test]
async fn a_far_tile_is_empty_and_tiles_are_cached_briefly_with_an_etag(pool: PgPool) {
    seed_demo(&pool).await;
    let plan = team_a_plan(&pool).await;
    let want = expected(&pool, plan).await;
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;

    // The Gulf of Guinea: nothing of the plan.
    let r = send_get(
        &manager,
        &app,
        &format!("/api/plans/{plan}/tiles/12/2048/2048.mvt"),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["cache-control"], "private, max-age=60");
    assert!(r.bytes().await.expect("body").is_empty());

    // A tile with accounts: 200, the MVT type, an ETag the client can revalidate with.
    let (x, y) = covering(12, &want)[0];
    let url = app.url(&format!("/api/plans/{plan}/tiles/12/{x}/{y}.pbf"));
    let r = manager.get(&url).send().await.expect("tile");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], MVT);
    assert_eq!(r.headers()["cache-control"], "private, max-age=60");
    let etag = r.headers()["etag"].to_str().expect("ascii").to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert!(!r.bytes().await.expect("body").is_empty());
    let again = manager
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("tile");
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());
    let other = manager
        .get(&url)
        .header("if-none-match", "W/\"something-else\"")
        .send()
        .await
        .expect("tile");
    assert_eq!(other.status(), 200);

    // The tile set: where tiles are and the plan's bounds, which hold every account.
    let set: Value = json_of(&manager, &app, &format!("/api/plans/{plan}/tiles")).await;
    assert_eq!(set["tilejson"], "3.0.0");
    assert_eq!(
        set["tiles"][0],
        app.url(&format!("/api/plans/{plan}/tiles/{{z}}/{{x}}/{{y}}"))
    );
    let bounds: Vec<f64> = serde_json::from_value(set["bounds"].clone()).expect("bounds");
    for a in want.accounts.values() {
        assert!(
            (bounds[0]..=bounds[2]).contains(&a.lon) && (bounds[1]..=bounds[3]).contains(&a.lat)
        );
    }
}

#[sqlx::test]
async fn bad_tile_addresses_get_a_json_400(pool: PgPool) {
    seed_demo(&pool).await;
    let plan = team_a_plan(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;
    for (address, says) in [
        ("a/0/0", "tile z must be a whole number"),
        ("1/-1/0", "tile x must be a whole number"),
        ("1/0/0.png", "tile y must be a whole number"),
        ("23/0/0", "zoom 23 is deeper than the deepest zoom, 22"),
        ("2/4/0", "tile x 4 is outside 0..4 at zoom 2"),
        ("2/0/4.mvt", "tile y 4 is outside 0..4 at zoom 2"),
        ("1/99999999999/0", "tile x is too large"),
    ] {
        let r = send_get(
            &manager,
            &app,
            &format!("/api/plans/{plan}/tiles/{address}"),
        )
        .await;
        assert_eq!(r.status(), 400, "{address}");
        let body: Value = r.json().await.expect("a JSON error body");
        assert_eq!(body["error"]["code"], "invalid_tile", "{address}");
        assert_eq!(body["error"]["message"], says, "{address}");
    }
}

#[sqlx::test]
async fn tiles_are_refused_like_shapes_to_other_teams_reps_and_strangers(pool: PgPool) {
    seed_demo(&pool).await;
    let plan = team_a_plan(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let tile_path = format!("/api/plans/{plan}/tiles/12/2127/1490");
    let shapes_path = format!("/api/plans/{plan}/shapes");
    for (who, status) in [
        (Some("manager.b@example.com"), 404),
        (Some("camille.martin@example.com"), 403),
        (None, 401),
    ] {
        let client = match who {
            Some(email) => app.client_as(email).await,
            None => crate::helpers::cookie_client(),
        };
        for path in [&tile_path, &shapes_path] {
            let r = send_get(&client, &app, path).await;
            assert_eq!(r.status(), status, "{who:?} {path}");
            let body: Value = r.json().await.expect("a JSON error body");
            assert!(body["error"]["message"].is_string(), "{who:?} {path}");
        }
    }
    // An unknown plan is not found.
    let manager = app.client_as("manager.a@example.com").await;
    assert_eq!(
        crate::helpers::status_of(
            &manager,
            app.url(&format!("/api/plans/{}/tiles/0/0/0", Uuid::new_v4()))
        )
        .await,
        404
    );
}
