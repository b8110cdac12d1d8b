//! The built-in OSM geocoder, built from the committed Monaco extract into a real PostGIS
//! database: exact, misspelt, interpolated and fallback answers, reverse geocoding, rebuilds.

use std::sync::LazyLock;
use std::time::Instant;

use sqlx::PgPool;
use terrane::geocode::osm::build::Features;
use terrane::geocode::osm::{self, OsmGeocoder, Source, load};
use terrane::geocode::{Address, GeocodeResult, Geocoder, Precision};
use terrane::spatial::LonLat;

use crate::helpers::repo_path;

const MONACO: &str = "seed-data/monaco.osm.pbf";

/// Node 267901435 of the extract: 6 Quai Antoine 1er, 98000 Monaco.
fn six_quai_antoine() -> LonLat {
    LonLat::new(7.425_790_5, 43.732_922_1).expect("valid")
}

/// Reading the extract is the slow part, so the tests share one read and each loads it into
/// its own database.
static MONACO_FEATURES: LazyLock<(Source, Features)> = LazyLock::new(|| {
    let path = repo_path(MONACO);
    let source = Source::of_file(&path).expect("the extract hashes");
    let features = osm::build::read(&path).expect("the extract reads");
    (source, features)
});

async fn monaco(pool: &PgPool) -> OsmGeocoder {
    let (source, features) = &*MONACO_FEATURES;
    load::load(pool, source, features, Instant::now(), &mut |_| {})
        .await
        .expect("the index loads");
    OsmGeocoder::new(pool.clone())
}

fn line(address: &str) -> Address {
    Address {
        line: Some(address.to_owned()),
        ..Address::default()
    }
}

async fn ask(geocoder: &OsmGeocoder, address: &str) -> GeocodeResult {
    geocoder
        .locate(&line(address))
        .await
        .expect("the index answers")
        .unwrap_or_else(|| panic!("{address:?} was not found"))
}

/// The point of the one address point with this street and number.
async fn point_of(pool: &PgPool, street: &str, number: &str) -> LonLat {
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "select ST_X(geom), ST_Y(geom) from geocoder_addresses
         where street = $1 and housenumber = $2 order by id limit 1",
    )
    .bind(street)
    .bind(number)
    .fetch_one(pool)
    .await
    .expect("the address is in the index");
    LonLat::new(lon, lat).expect("valid")
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_known_address_resolves_to_its_rooftop_within_ten_metres(pool: PgPool) {
    let geocoder = monaco(&pool).await;
    let query = Address {
        line: Some("6 Quai Antoine 1er".into()),
        postal_code: Some("98000".into()),
        city: Some("Monaco".into()),
        ..Address::default()
    };

    let r = geocoder
        .geocode(&query)
        .await
        .expect("answers")
        .expect("found");

    assert_eq!(r.precision, Precision::Rooftop);
    assert_eq!(r.provider, "osm");
    assert!(r.confidence >= 0.9, "{}", r.confidence);
    let d = r.location.distance_m(six_quai_antoine());
    assert!(d <= 10.0, "{d} m off");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn abbreviated_upper_case_and_misspelt_spellings_find_the_same_rooftop(pool: PgPool) {
    let geocoder = monaco(&pool).await;
    let bd_albert = point_of(&pool, "Boulevard Albert 1er", "5b").await;
    let cases = [
        ("6 QUAI ANTOINE IER, MONACO", six_quai_antoine()),
        ("6 quai antoine 1er", six_quai_antoine()),
        ("6 Quai Antonie 1er, 98000 Monaco", six_quai_antoine()),
        ("6 Antoine 1er, Monaco", six_quai_antoine()),
        ("5b Bd Albert 1er, 98000 Monaco", bd_albert),
        ("5 bis Bd Albert Ier, Monaco", bd_albert),
    ];

    for (address, expected) in cases {
        let r = ask(&geocoder, address).await;
        let d = r.location.distance_m(expected);
        assert!(d <= 10.0, "{address:?} is {d} m off ({:?})", r.precision);
    }
    let typo = ask(&geocoder, "6 Quai Antonie 1er, 98000 Monaco").await;
    assert_eq!(typo.precision, Precision::Rooftop);
    assert!(
        typo.confidence < 0.9,
        "a misspelt street is less certain: {}",
        typo.confidence
    );
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_missing_number_between_two_known_ones_is_interpolated(pool: PgPool) {
    let geocoder = monaco(&pool).await;
    // Rue du Gabian has 7 and 11 but no 9.
    let seven = point_of(&pool, "Rue du Gabian", "7").await;
    let eleven = point_of(&pool, "Rue du Gabian", "11").await;
    let midway = LonLat::new(
        f64::midpoint(seven.lon(), eleven.lon()),
        f64::midpoint(seven.lat(), eleven.lat()),
    )
    .expect("valid");

    let r = ask(&geocoder, "9 Rue du Gabian, 98000 Monaco").await;

    assert_eq!(r.precision, Precision::Interpolated);
    let d = r.location.distance_m(midway);
    assert!(d <= 15.0, "{d} m from halfway between 7 and 11");
    assert!(r.confidence < 0.9);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_mapped_interpolation_line_places_a_number_along_it(pool: PgPool) {
    let geocoder = monaco(&pool).await;
    // A made-up odd-number line for 1 to 21 along Rue Imberty, which only knows number 6.
    sqlx::query(
        "insert into geocoder_interpolations
             (osm_ref, street, street_norm, street_id, start_number, end_number, step, geom)
         select 'w0', name, name_norm, id, 1, 21, 2,
                ST_SetSRID(ST_MakeLine(ST_MakePoint(7.4200, 43.7300),
                                       ST_MakePoint(7.4210, 43.7300)), 4326)
         from geocoder_streets where name = 'Rue Imberty'",
    )
    .execute(&pool)
    .await
    .expect("fixture");

    let r = ask(&geocoder, "11 Rue Imberty, Monaco").await;

    assert_eq!(r.precision, Precision::Interpolated);
    let halfway = LonLat::new(7.4205, 43.7300).expect("valid");
    assert!(r.location.distance_m(halfway) < 1.0, "{:?}", r.location);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_street_without_the_number_falls_back_to_a_point_on_the_street(pool: PgPool) {
    let geocoder = monaco(&pool).await;

    let r = ask(&geocoder, "Quai Antoine 1er, 98000 Monaco").await;

    assert_eq!(r.precision, Precision::Street);
    let d = r.location.distance_m(six_quai_antoine());
    assert!(d < 500.0, "{d} m from a house on the quay");
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn an_unknown_street_falls_back_to_the_postcode_then_the_locality(pool: PgPool) {
    let geocoder = monaco(&pool).await;

    let with_postcode = ask(&geocoder, "12 Rue Imaginaire Zyx, 98000 Monaco").await;
    let without = ask(&geocoder, "12 Rue Imaginaire Zyx, Monaco").await;
    let nowhere = geocoder
        .locate(&line("12 Rue Imaginaire Zyx, Atlantis"))
        .await
        .expect("answers");

    assert_eq!(with_postcode.precision, Precision::PostalCode);
    assert_eq!(without.precision, Precision::Locality);
    assert!(without.confidence < with_postcode.confidence);
    let monaco_centre = LonLat::new(7.42, 43.735).expect("valid");
    assert!(without.location.distance_m(monaco_centre) < 2_000.0);
    assert_eq!(nowhere, None);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn reverse_geocoding_names_the_nearest_address_or_else_the_street(pool: PgPool) {
    let geocoder = monaco(&pool).await;
    // About 5 m north of number 6.
    let near_six = LonLat::new(7.425_790_5, 43.732_967).expect("valid");
    // Open sea, kilometres from any street.
    let at_sea = LonLat::new(7.45, 43.70).expect("valid");

    let r = geocoder
        .reverse(near_six)
        .await
        .expect("answers")
        .expect("found");
    let sea = geocoder.reverse(at_sea).await.expect("answers");

    assert_eq!(r.precision, Precision::Rooftop);
    assert_eq!(r.house_number.as_deref(), Some("6"));
    assert_eq!(r.street, "Quai Antoine 1er");
    assert!(r.distance_m < 10.0, "{}", r.distance_m);
    assert_eq!(r.label(), "6 Quai Antoine 1er, 98000 Monaco");
    assert_eq!(sea, None);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn reverse_geocoding_away_from_addresses_names_the_street(pool: PgPool) {
    let geocoder = monaco(&pool).await;
    // A point on a street more than 50 m from every address point.
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "select ST_X(p), ST_Y(p) from (
             select ST_LineInterpolatePoint(ST_GeometryN(s.geom, 1), 0.5) as p
             from geocoder_streets s where s.geom is not null order by s.id) c
         where not exists (select 1 from geocoder_addresses a
                           where ST_DWithin(a.geom::geography, c.p::geography, 80))
         limit 1",
    )
    .fetch_one(&pool)
    .await
    .expect("some street is away from addresses");

    let r = geocoder
        .reverse(LonLat::new(lon, lat).expect("valid"))
        .await
        .expect("answers")
        .expect("found");

    assert_eq!(r.precision, Precision::Street);
    assert_eq!(r.house_number, None);
    assert!(r.distance_m < 1.0, "{}", r.distance_m);
}

#[sqlx::test(migrator = "terrane::db::MIGRATOR")]
async fn a_second_build_replaces_the_first(pool: PgPool) {
    let path = repo_path(MONACO);
    let first = osm::build_index(&pool, &path, &mut |_| {})
        .await
        .expect("builds");
    let second = osm::build_index(&pool, &path, &mut |_| {})
        .await
        .expect("builds again");

    assert!(first.addresses > 50, "{first:?}");
    assert!(first.streets > 300, "{first:?}");
    assert_eq!(
        (
            first.streets,
            first.addresses,
            first.interpolations,
            first.postcodes,
            first.places
        ),
        (
            second.streets,
            second.addresses,
            second.interpolations,
            second.postcodes,
            second.places
        )
    );
    let (builds, addresses, sha): (i64, i64, String) = sqlx::query_as(
        "select (select count(*) from geocoder_builds), (select count(*) from geocoder_addresses),
                (select source_sha256 from geocoder_builds order by id desc limit 1)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(builds, 2);
    assert_eq!(addresses, i64::from(second.addresses));
    assert_eq!(
        sha,
        "36c0f0029ed838897322382611b67e8e5e7bcb07d5b17a25f3574dec54f1c23c"
    );
}
