//! `terrane seed-data build`: the demo CRM rebuilt from the committed OSM extract matches the
//! committed file, and has the shape the demo relies on. No database needed.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use terrane::seed::build::{build_from_pbf, to_json};
use terrane::seed::dataset::{DemoAccount, DemoDataset};

use crate::helpers::repo_path;

const REBUILD: &str =
    "terrane seed-data build --pbf seed-data/monaco.osm.pbf --out seed-data/demo-crm.json";

/// Extent of all nodes in `seed-data/monaco.osm.pbf` (min lon, min lat, max lon, max lat),
/// rounded outwards to 1e-4 degrees.
const EXTRACT_BBOX: (f64, f64, f64, f64) = (7.3490, 43.7147, 7.4910, 43.7700);

/// Building takes a few seconds in a debug build, so every test shares one result.
static BUILT: LazyLock<DemoDataset> = LazyLock::new(|| {
    build_from_pbf(&repo_path("seed-data/monaco.osm.pbf"))
        .expect("the demo dataset builds from the extract")
});

fn real(ds: &DemoDataset) -> impl Iterator<Item = &DemoAccount> {
    ds.accounts.iter().filter(|a| !a.synthetic)
}

fn account<'a>(ds: &'a DemoDataset, name: &str) -> &'a DemoAccount {
    real(ds)
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("{name} is missing"))
}

#[test]
fn the_committed_dataset_is_exactly_what_the_builder_makes() {
    let fresh = to_json(&BUILT).expect("serializes");
    let committed = std::fs::read_to_string(repo_path("seed-data/demo-crm.json"))
        .unwrap_or_else(|e| panic!("seed-data/demo-crm.json unreadable ({e}); run `{REBUILD}`"));
    if fresh != committed {
        let line = fresh
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "at the end".to_owned(),
                |i| {
                    format!(
                        "first at line {}: built {:?}, committed {:?}",
                        i + 1,
                        fresh.lines().nth(i),
                        committed.lines().nth(i)
                    )
                },
            );
        panic!(
            "seed-data/demo-crm.json is stale ({line}); rerun `{REBUILD}` and commit the result"
        );
    }
}

#[test]
fn there_are_six_hundred_accounts_in_the_usual_tier_mix() {
    let ds = &*BUILT;
    assert_eq!(ds.accounts.len(), 600);
    let tier = |t: &str| ds.accounts.iter().filter(|a| a.tier == t).count();
    assert_eq!((tier("A"), tier("B"), tier("C")), (90, 210, 300));
    let mean_value = |t: &str| {
        let values: Vec<f64> = ds
            .accounts
            .iter()
            .filter(|a| a.tier == t)
            .map(|a| f64::from(a.annual_value))
            .collect();
        values.iter().sum::<f64>() / values.len() as f64
    };
    assert!(
        mean_value("A") > 5.0 * mean_value("C"),
        "A accounts are worth much more than C ones"
    );
}

#[test]
fn every_named_business_in_the_extract_is_an_account() {
    let ds = &*BUILT;
    let count = real(ds).count();
    assert!((300..=550).contains(&count), "{count} real businesses");

    let casino = account(ds, "Casino de Monte Carlo");
    assert_eq!(
        (casino.crm_source.as_str(), casino.industry.as_str()),
        ("demo-hubspot", "amenity:casino")
    );
    assert_eq!(casino.osm_ref, "way/161769674");
    assert_eq!(
        (
            casino.address.city.as_str(),
            casino.address.country_code.as_str()
        ),
        ("Monaco", "MC")
    );

    let hotel = account(ds, "Hôtel de Paris");
    assert_eq!(hotel.industry, "tourism:hotel");

    let pub_ = account(ds, "Stars n Bars");
    assert!(pub_.address.from_osm_tags, "its address is tagged in OSM");
    assert_eq!(pub_.address.house_number.as_deref(), Some("6"));
    assert_eq!(pub_.address.street, "Quai Antoine 1er");
    assert_eq!(pub_.address.postal_code.as_deref(), Some("98000"));
}

#[test]
fn real_and_synthetic_accounts_are_told_apart_by_flag_source_id_and_industry() {
    let mut ids = std::collections::BTreeSet::new();
    for a in &BUILT.accounts {
        assert!(ids.insert((&a.crm_source, &a.crm_id)), "{} twice", a.crm_id);
        if a.synthetic {
            assert_eq!(a.crm_source, "demo-salesforce", "{}", a.crm_id);
            assert!(
                a.crm_id.len() == 18 && a.crm_id.starts_with("001"),
                "Salesforce Account id: {}",
                a.crm_id
            );
            assert!(a.industry.starts_with("prospect:"), "{}", a.crm_id);
            assert!(
                a.osm_ref.starts_with("way/"),
                "{} sits on a building",
                a.crm_id
            );
        } else {
            assert_eq!(a.crm_source, "demo-hubspot", "{}", a.crm_id);
            assert!(
                a.crm_id.bytes().all(|b| b.is_ascii_digit()),
                "HubSpot company id: {}",
                a.crm_id
            );
            assert!(!a.industry.starts_with("prospect:"), "{}", a.crm_id);
        }
    }
}

#[test]
fn every_account_has_a_street_a_city_and_a_country() {
    for a in &BUILT.accounts {
        assert!(
            !a.address.street.trim().is_empty(),
            "{} has no street",
            a.crm_id
        );
        assert!(
            !a.address.city.trim().is_empty(),
            "{} has no city",
            a.crm_id
        );
        assert!(
            ["MC", "FR"].contains(&a.address.country_code.as_str()),
            "{}",
            a.crm_id
        );
    }
}

#[test]
fn six_reps_own_every_account_between_them() {
    let ds = &*BUILT;
    assert_eq!(ds.reps.len(), 6);
    let reps: BTreeSet<&str> = ds.reps.iter().map(|r| r.crm_owner_id.as_str()).collect();
    assert_eq!(
        reps,
        BTreeSet::from([
            "owner-1", "owner-2", "owner-3", "owner-4", "owner-5", "owner-6"
        ])
    );
    for a in &ds.accounts {
        assert!(
            reps.contains(a.owner_crm_id.as_str()),
            "{} is owned by {}",
            a.crm_id,
            a.owner_crm_id
        );
    }
    for rep in &ds.reps {
        assert!(rep.email.ends_with("@example.com"), "{}", rep.email);
        assert!(
            ds.accounts
                .iter()
                .any(|a| a.owner_crm_id == rep.crm_owner_id),
            "{} owns nothing",
            rep.crm_owner_id
        );
    }
}

#[test]
fn crm_ids_are_unique() {
    let ids: BTreeSet<&str> = BUILT.accounts.iter().map(|a| a.crm_id.as_str()).collect();
    assert_eq!(ids.len(), BUILT.accounts.len());
}

#[test]
fn every_coordinate_lies_inside_the_extract() {
    let (min_lon, min_lat, max_lon, max_lat) = EXTRACT_BBOX;
    let inside = |lon: f64, lat: f64| {
        (min_lon..=max_lon).contains(&lon) && (min_lat..=max_lat).contains(&lat)
    };
    for a in &BUILT.accounts {
        assert!(inside(a.lon, a.lat), "{} at {}, {}", a.crm_id, a.lon, a.lat);
    }
    for r in &BUILT.reps {
        assert!(
            inside(r.home_lon, r.home_lat),
            "{} at {}, {}",
            r.crm_owner_id,
            r.home_lon,
            r.home_lat
        );
    }
}

#[test]
fn the_dataset_credits_openstreetmap() {
    assert_eq!(BUILT.derived_from, "monaco.osm.pbf");
    assert!(BUILT.attribution.contains("© OpenStreetMap contributors"));
    assert!(BUILT.attribution.contains("Open Database License"));
}
