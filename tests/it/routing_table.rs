//! OSRM duration matrices and home-base drive times against the real osrm-routed on Monaco.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::time::Duration;

use terrane::routing::{CoordinateRole, DurationMatrix, OsrmClient, RoutingError, parse_points};
use terrane::spatial::{LonLat, SpatialError};
use terrane::territory::travel::home_drive_minutes;

use crate::helpers::{dead_url, osrm_url, repo_path};

fn client_at(url: &str) -> OsrmClient {
    OsrmClient::new(url.parse().expect("OSRM URL"), Duration::from_secs(30)).expect("client")
}

/// The test command's osrm-routed, with the client's default limit (osrm-routed's default,
/// 100), whatever the server allows.
fn osrm() -> OsrmClient {
    client_at(&osrm_url())
}

fn demo_crm() -> serde_json::Value {
    let path = repo_path("seed-data/demo-crm.json");
    let text = std::fs::read_to_string(&path).expect("seed-data/demo-crm.json");
    serde_json::from_str(&text).expect("demo CRM is JSON")
}

/// A valid point.
fn at(lon: f64, lat: f64) -> LonLat {
    LonLat::new(lon, lat).expect("valid")
}

/// The demo accounts' points, in file order.
fn demo_accounts() -> Vec<LonLat> {
    demo_crm()["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter_map(|a| Some(at(a["lon"].as_f64()?, a["lat"].as_f64()?)))
        .collect()
}

/// The demo rep's home base with this CRM owner id.
fn demo_home(owner: &str) -> LonLat {
    let reps = demo_crm()["reps"].as_array().expect("reps").clone();
    let rep = reps
        .iter()
        .find(|r| r["crm_owner_id"] == owner)
        .expect("rep in the demo CRM");
    at(
        rep["home_lon"].as_f64().expect("home_lon"),
        rep["home_lat"].as_f64().expect("home_lat"),
    )
}

fn distance_m(a: LonLat, b: LonLat) -> f64 {
    a.distance_m(b)
}

fn seconds(m: &DurationMatrix, i: usize, j: usize) -> f32 {
    m.get(i, j)
        .unwrap_or_else(|| panic!("no route from {i} to {j}"))
}

#[tokio::test]
async fn a_matrix_of_monaco_accounts_is_square_with_a_zero_diagonal() {
    let accounts = demo_accounts();
    let points: Vec<LonLat> = [0, 120, 240, 360, 480].map(|i| accounts[i]).to_vec();

    let m = osrm()
        .table(&points, &points)
        .await
        .expect("table (is osrm-routed running at TERRANE_TEST_OSRM_URL?)");

    assert_eq!((m.rows, m.cols), (5, 5));
    assert_eq!(m.seconds.len(), 25);
    for i in 0..5 {
        assert_eq!(m.get(i, i), Some(0.0), "diagonal {i}");
        assert_eq!(m.metres(i, i), Some(0.0), "diagonal {i}");
        for j in (0..5).filter(|&j| j != i) {
            let s = seconds(&m, i, j);
            // Inside Monaco and its neighbours: more than nothing, less than an hour.
            assert!(s > 0.0 && s < 3600.0, "{i} -> {j}: {s} s");
        }
    }
    // Real businesses sit next to a street.
    assert!(m.snap_m.iter().all(|&d| d < 500.0), "{:?}", m.snap_m);
    assert_eq!(m.snap_m, m.source_snap_m, "same points, same snapping");
}

#[tokio::test]
async fn a_table_beyond_the_limit_is_chunked_and_matches_the_blocks_asked_directly() {
    let points: Vec<LonLat> = demo_accounts().into_iter().take(150).collect();
    assert_eq!(points.len(), 150);

    // 150 × 150 is beyond osrm-routed's default --max-table-size of 100: four blocks.
    let chunked = osrm().table(&points, &points).await.expect("chunked table");

    assert_eq!((chunked.rows, chunked.cols), (150, 150));
    let blocks: [(Range<usize>, Range<usize>); 4] = [
        (0..100, 0..100),
        (0..100, 100..150),
        (100..150, 0..100),
        (100..150, 100..150),
    ];
    for (rows, cols) in blocks {
        let direct = osrm()
            .table(&points[rows.clone()], &points[cols.clone()])
            .await
            .expect("one block, one request");
        for (bi, i) in rows.clone().enumerate() {
            for (bj, j) in cols.clone().enumerate() {
                assert_eq!(chunked.get(i, j), direct.get(bi, bj), "({i}, {j})");
                assert_eq!(chunked.metres(i, j), direct.metres(bi, bj), "({i}, {j}) m");
            }
        }
        assert_eq!(&chunked.snap_m[cols.clone()], &direct.snap_m[..]);
        assert_eq!(
            &chunked.source_snap_m[rows.clone()],
            &direct.source_snap_m[..]
        );
    }

    // The test command starts osrm-routed with --max-table-size 1000: one request for all.
    let whole = osrm()
        .with_max_table_size(NonZeroUsize::new(1000).expect("non-zero"))
        .table(&points, &points)
        .await
        .expect("whole table in one request (osrm-routed started with --max-table-size 1000?)");
    assert_eq!(whole, chunked);
    let routed = chunked.seconds.iter().filter(|s| s.is_some()).count();
    assert!(routed * 10 > 150 * 150 * 9, "{routed} pairs routed");
}

/// The demo accounts and points spread over their bounding box, `n` in all (a day plan's
/// matrix can outgrow the demo book).
fn many_points(n: usize) -> Vec<LonLat> {
    let mut points = demo_accounts();
    let (lo_lon, hi_lon, lo_lat, hi_lat) = points.iter().fold(
        (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
        |(a, b, c, d), p| {
            (
                a.min(p.lon()),
                b.max(p.lon()),
                c.min(p.lat()),
                d.max(p.lat()),
            )
        },
    );
    let mut k = 0u32;
    while points.len() < n {
        // A low-discrepancy walk over the box (golden-ratio steps), not a grid.
        k += 1;
        let u = (f64::from(k) * 0.618_033_988_75).fract();
        let v = (f64::from(k) * 0.754_877_666_25).fract();
        points.push(at(
            lo_lon + u * (hi_lon - lo_lon),
            lo_lat + v * (hi_lat - lo_lat),
        ));
    }
    points.truncate(n);
    points
}

#[tokio::test]
async fn a_thousand_location_matrix_in_chunks_equals_one_direct_request() {
    let points = many_points(1_000);
    // The client's default limit (100) cuts 1,000 × 1,000 into a hundred requests.
    let chunked = osrm().table(&points, &points).await.expect("chunked");

    // One all-to-all request, as OSRM documents it, without this client's chunking.
    let coords: Vec<String> = points
        .iter()
        .map(|p| format!("{:.6},{:.6}", p.lon(), p.lat()))
        .collect();
    let url = format!(
        "{}/table/v1/driving/{}?annotations=duration,distance&generate_hints=false",
        osrm_url().trim_end_matches('/'),
        coords.join(";")
    );
    let direct: serde_json::Value = reqwest::get(&url)
        .await
        .expect("direct request")
        .json()
        .await
        .expect("OSRM JSON");
    assert_eq!(direct["code"], "Ok", "{}", direct["message"]);
    let cell = |name: &str, i: usize, j: usize| direct[name][i][j].as_f64().map(|v| v as f32);
    let mut routed = 0;
    for i in 0..points.len() {
        for j in 0..points.len() {
            assert_eq!(chunked.get(i, j), cell("durations", i, j), "({i}, {j}) s");
            assert_eq!(
                chunked.metres(i, j),
                cell("distances", i, j),
                "({i}, {j}) m"
            );
            routed += usize::from(chunked.get(i, j).is_some());
        }
    }
    assert!(routed * 10 > 1_000 * 1_000 * 9, "{routed} pairs routed");
}

#[tokio::test]
async fn one_source_against_many_destinations_is_chunked_by_the_request_size() {
    let accounts = demo_accounts();
    let home = demo_home("owner-1");

    // 600 destinations do not fit one request line at the default limit.
    let m = osrm()
        .table(&[home], &accounts)
        .await
        .expect("one row, several requests");

    assert_eq!((m.rows, m.cols), (1, accounts.len()));
    let whole = osrm()
        .with_max_table_size(NonZeroUsize::new(1000).expect("non-zero"))
        .table(&[home], &accounts)
        .await
        .expect("one request");
    assert_eq!(m, whole);
}

#[tokio::test]
async fn points_in_the_sea_or_far_away_snap_far_from_any_road() {
    let account = demo_accounts()[0];
    let sea = at(7.45, 43.70); // the Mediterranean, 4 km off Monaco
    let paris = at(2.3522, 48.8566); // far outside the Monaco extract

    let m = osrm()
        .table(&[account], &[account, sea, paris])
        .await
        .expect("OSRM snaps however far the road is");

    assert!(m.snap_m[0] < 500.0, "{:?}", m.snap_m);
    assert!(m.snap_m[1] > 1_000.0, "sea: {:?}", m.snap_m);
    assert!(m.snap_m[2] > 100_000.0, "Paris: {:?}", m.snap_m);
    // OSRM times the drive to the snapped road, if it finds one.
    for j in 1..3 {
        assert!(m.get(0, j).is_none_or(|s| s > 0.0), "{:?}", m.get(0, j));
    }
}

#[tokio::test]
async fn invalid_coordinates_are_refused_before_any_request() {
    // Nothing listens here: any request would fail as Http, not InvalidCoordinate.
    let nowhere = client_at(&dead_url());
    let monaco = (7.4246, 43.7384);

    // (sources, destinations, the role and index named).
    type Case<'a> = (&'a [(f64, f64)], &'a [(f64, f64)], CoordinateRole, usize);
    let cases: [Case; 4] = [
        (
            &[monaco],
            &[monaco, (7.42, f64::NAN)],
            CoordinateRole::Destination,
            1,
        ),
        (&[(7.42, 91.0)], &[monaco], CoordinateRole::Source, 0),
        (
            &[monaco, (181.0, 43.7)],
            &[monaco],
            CoordinateRole::Source,
            1,
        ),
        (
            &[monaco],
            &[(f64::NEG_INFINITY, 0.0)],
            CoordinateRole::Destination,
            0,
        ),
    ];
    // Raw pairs become points at the edge (sources first); `table` takes only points.
    for (sources, destinations, role, index) in cases {
        let err = parse_points(CoordinateRole::Source, sources)
            .and_then(|_| parse_points(CoordinateRole::Destination, destinations))
            .expect_err("refused");
        assert!(
            matches!(err, RoutingError::InvalidCoordinate { role: r, index: i, .. } if r == role && i == index),
            "{err}"
        );
    }

    // Home bases reach `home_drive_minutes` as points: an invalid one cannot be made.
    assert_eq!(LonLat::new(7.42, -95.0), Err(SpatialError::Latitude));

    // The same client does send valid requests (and fails to reach the dead port).
    let monaco = at(monaco.0, monaco.1);
    let err = nowhere
        .table(&[monaco], &[monaco])
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, RoutingError::Http { .. }), "{err}");
}

#[tokio::test]
async fn an_empty_table_needs_no_request() {
    let nowhere = client_at(&dead_url());

    let m = nowhere
        .table(&[], &[at(7.4246, 43.7384)])
        .await
        .expect("nothing to ask");

    assert_eq!((m.rows, m.cols), (0, 1));
    assert!(m.seconds.is_empty());
}

#[tokio::test]
async fn each_home_base_is_nearer_by_road_to_the_accounts_beside_it() {
    // The demo's westernmost and easternmost home bases, about 10 km apart.
    let west = demo_home("owner-3");
    let east = demo_home("owner-2");
    let accounts = demo_accounts();
    let nearest = |home: LonLat| {
        let mut by_distance = accounts.clone();
        by_distance.sort_by(|a, b| distance_m(home, *a).total_cmp(&distance_m(home, *b)));
        by_distance.truncate(3);
        by_distance
    };
    let points: Vec<LonLat> = nearest(west).into_iter().chain(nearest(east)).collect();

    // Territory 1 has no home base: it is skipped, the others keep their indexes.
    let times = home_drive_minutes(&osrm(), &[Some(west), None, Some(east)], &points)
        .await
        .expect("drive times");

    assert_eq!((times.territories(), times.points()), (3, 6));
    for p in 0..6 {
        let from_west = times.minutes(0, p).expect("routable from the west");
        let from_east = times.minutes(2, p).expect("routable from the east");
        assert!(from_west > 0.0 && from_east > 0.0);
        if p < 3 {
            assert!(
                from_west < from_east,
                "point {p}: {from_west} vs {from_east}"
            );
        } else {
            assert!(
                from_east < from_west,
                "point {p}: {from_east} vs {from_west}"
            );
        }
        assert_eq!(times.minutes(1, p), None);
        assert_eq!(times.minutes_or_estimate(1, p), None);
        assert!(!times.is_estimated(0, p) && !times.is_estimated(2, p));
    }
    // Every pair was routable, so the fallback is fitted on all 12; Monaco's winding,
    // hilly streets come out between 10 and 60 km/h on the straight line.
    let fit = times.fallback();
    assert_eq!(fit.fitted_pairs, 12);
    assert!(
        (1.0..6.0).contains(&fit.minutes_per_km),
        "{} minutes per km",
        fit.minutes_per_km
    );
}
