//! Derives the demo CRM dataset from an OpenStreetMap extract, reproducibly: real named
//! businesses, synthetic prospects on real buildings, invented tiers and values, and reps.

mod crm;
mod gazetteer;

use std::collections::BTreeSet;

use anyhow::Context;
use rand::Rng;
use rand::seq::SliceRandom;

use self::crm::{DEMO_SEED, REPS, Stream, WORK_END, WORK_START};
use self::gazetteer::Gazetteer;
use super::dataset::{
    DEMO_HUBSPOT_SOURCE, DEMO_SALESFORCE_SOURCE, DemoAccount, DemoAddress, DemoDataset, DemoRep,
};
use crate::osm::geometry::{LineIndex, LocalFrame, Region, Xy, ring_area_m2, ring_centroid};
use crate::osm::pbf::{Extract, Tags, read_pbf};
use crate::osm::tags::non_empty;
use crate::spatial::LonLat;

/// Accounts in the dataset: every real business, topped up with synthetic prospects.
pub const TARGET_ACCOUNTS: usize = 600;

/// ODbL attribution required for anything derived from OpenStreetMap.
pub const OSM_ATTRIBUTION: &str = "Contains information from OpenStreetMap, © OpenStreetMap contributors, \
     available under the Open Database License (ODbL) 1.0: https://www.openstreetmap.org/copyright";

/// Keys that make a named object a business, in the order used to pick its industry.
const BUSINESS_KEYS: &[&str] = &["shop", "office", "craft", "amenity", "tourism"];

/// Values of [`BUSINESS_KEYS`] that are not somewhere a rep would call on. Amenities: street
/// furniture, parking and transport infrastructure, and self-service machines. Tourism:
/// spots to look at rather than businesses. Shop: the tagging for "no shop here".
/// Schools, hospitals, town halls, police and places of worship stay in: institutions buy too.
const NON_BUSINESS_VALUES: &[(&str, &[&str])] = &[
    (
        "amenity",
        &[
            "atm",
            "bbq",
            "bench",
            "bicycle_parking",
            "bicycle_rental",
            "bus_station",
            "charging_station",
            "clock",
            "drinking_water",
            "ferry_terminal",
            "fountain",
            "grave_yard",
            "motorcycle_parking",
            "parking",
            "parking_entrance",
            "parking_space",
            "post_box",
            "recycling",
            "shelter",
            "taxi",
            "telephone",
            "toilets",
            "vending_machine",
            "waste_basket",
            "waste_disposal",
            "water_point",
        ],
    ),
    (
        "tourism",
        &[
            "artwork",
            "camp_pitch",
            "information",
            "picnic_site",
            "viewpoint",
        ],
    ),
    ("shop", &["no", "vacant"]),
];

/// Building values that cannot host a prospect: places of worship, shelters for vehicles
/// or tools, and structures that are not usable buildings.
const NON_PROSPECT_BUILDINGS: &[&str] = &[
    "bunker",
    "carport",
    "cathedral",
    "chapel",
    "church",
    "construction",
    "garage",
    "garages",
    "greenhouse",
    "hut",
    "mosque",
    "no",
    "roof",
    "ruins",
    "shed",
    "shrine",
    "synagogue",
    "temple",
    "transformer_tower",
];

/// Highway classes cars use to reach a customer. Motorways are left out: nobody parks on
/// one to visit a shop.
const CAR_HIGHWAYS: &[&str] = &[
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
];

/// A prospect's building must have its centroid this close to a named car road.
const PROSPECT_ROAD_DISTANCE_M: f64 = 60.0;

/// Smaller footprints are sheds and kiosks that happen to be tagged `building=yes`.
const MIN_PROSPECT_FOOTPRINT_M2: f64 = 60.0;

/// Highway classes whose nodes may be a rep's home base: streets people live on.
const HOME_BASE_HIGHWAYS: &[&str] = &["residential", "tertiary", "secondary"];

/// Derives the demo dataset from an .osm.pbf file. Deterministic: same input, same output.
pub fn build_from_pbf(pbf: &std::path::Path) -> anyhow::Result<DemoDataset> {
    let extract = read_pbf(pbf)?;
    let derived_from = pbf
        .file_name()
        .with_context(|| format!("{} has no file name", pbf.display()))?
        .to_string_lossy()
        .into_owned();
    build_from_extract(&extract, derived_from)
        .with_context(|| format!("deriving the demo dataset from {}", pbf.display()))
}

/// Serializes the dataset as pretty JSON with a trailing newline (stable, diff-friendly).
pub fn to_json(ds: &DemoDataset) -> anyhow::Result<String> {
    let mut json = serde_json::to_string_pretty(ds).context("serializing the demo dataset")?;
    json.push('\n');
    Ok(json)
}

/// An OSM object an account sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OsmObject {
    Node(i64),
    Way(i64),
}

impl OsmObject {
    fn osm_ref(self) -> String {
        match self {
            OsmObject::Node(id) => format!("node/{id}"),
            OsmObject::Way(id) => format!("way/{id}"),
        }
    }
}

/// An account before ids, tiers, values and owners are drawn.
struct Site {
    name: String,
    industry: String,
    synthetic: bool,
    object: OsmObject,
    at: LonLat,
    address: DemoAddress,
}

fn build_from_extract(extract: &Extract, derived_from: String) -> anyhow::Result<DemoDataset> {
    let (sw, ne) = extract.bounds.context("the extract has no nodes")?;
    let origin = LonLat::new(
        f64::midpoint(sw.lon(), ne.lon()),
        f64::midpoint(sw.lat(), ne.lat()),
    )
    .context("extract centre")?;
    let frame = LocalFrame::new(origin);
    let gazetteer = Gazetteer::from_extract(extract, frame)?;

    let mut sites = real_businesses(extract, &gazetteer)?;
    let needed = TARGET_ACCOUNTS.saturating_sub(sites.len());
    let prospects = prospects(extract, &frame, &gazetteer, &sites, needed)?;
    sites.extend(prospects);

    let tiers = crm::assign_tiers(sites.len(), &mut crm::rng(DEMO_SEED, Stream::Tiers));
    let mut terms_rng = crm::rng(DEMO_SEED, Stream::Terms);

    let site_xy: Vec<Xy> = sites.iter().map(|s| frame.project(s.at)).collect();
    let reps = reps(extract, &frame, &site_xy)?;
    let rep_xy: Vec<Xy> = reps.iter().map(|(_, at)| frame.project(*at)).collect();

    let mut accounts = Vec::with_capacity(sites.len());
    let (mut hubspot_n, mut salesforce_n) = (0, 0);
    for ((site, tier), xy) in sites.into_iter().zip(tiers).zip(site_xy) {
        let terms = crm::draw_terms(tier, &mut terms_rng);
        let owner = crm::nearest_index(&rep_xy, xy).context("no reps to own accounts")?;
        let (crm_source, crm_id) = if site.synthetic {
            salesforce_n += 1;
            (
                DEMO_SALESFORCE_SOURCE,
                crm::salesforce_account_id(salesforce_n),
            )
        } else {
            hubspot_n += 1;
            (DEMO_HUBSPOT_SOURCE, crm::hubspot_company_id(hubspot_n))
        };
        accounts.push(DemoAccount {
            crm_source: crm_source.to_owned(),
            crm_id,
            name: site.name,
            industry: site.industry,
            synthetic: site.synthetic,
            osm_ref: site.object.osm_ref(),
            address: site.address,
            lon: round_7(site.at.lon()),
            lat: round_7(site.at.lat()),
            tier: tier.as_str().to_owned(),
            annual_value: terms.annual_value_eur,
            visits_per_year: terms.visits_per_year,
            priority: terms.priority,
            owner_crm_id: reps[owner].0.crm_owner_id.clone(),
        });
    }

    let dataset = DemoDataset {
        derived_from,
        attribution: OSM_ATTRIBUTION.to_owned(),
        seed: DEMO_SEED,
        reps: reps.into_iter().map(|(rep, _)| rep).collect(),
        accounts,
    };
    validate(&dataset)?;
    Ok(dataset)
}

/// The industry (`key:value`) that makes an object with these tags a business, if any.
/// Multi-valued tags (`a;b`) count by their first value.
fn business_kind(tags: &Tags) -> Option<String> {
    BUSINESS_KEYS.iter().find_map(|key| {
        let value = non_empty(tags.get(*key)?.split(';').next())?;
        let excluded = NON_BUSINESS_VALUES
            .iter()
            .any(|(k, values)| k == key && values.contains(&value));
        (!excluded).then(|| format!("{key}:{value}"))
    })
}

/// Every named business: nodes, then closed ways at their centroid, each by ascending id.
/// Businesses mapped as multipolygon relations (a handful) are left out: their outlines
/// would need assembling for a single account each.
fn real_businesses(extract: &Extract, gazetteer: &Gazetteer) -> anyhow::Result<Vec<Site>> {
    let nodes = extract
        .nodes
        .iter()
        .map(|n| (OsmObject::Node(n.id), Some(n.at), &n.tags));
    let ways = extract
        .ways
        .iter()
        .filter(|w| w.is_closed())
        .map(|w| (OsmObject::Way(w.id), ring_centroid(&w.coords), &w.tags));
    let mut sites = Vec::new();
    for (object, at, tags) in nodes.chain(ways) {
        let (Some(name), Some(industry)) = (
            non_empty(tags.get("name").map(String::as_str)),
            business_kind(tags),
        ) else {
            continue;
        };
        let at = at.with_context(|| format!("{} has no centroid", object.osm_ref()))?;
        let address = gazetteer
            .address(at, tags)
            .with_context(|| format!("addressing {}", object.osm_ref()))?;
        sites.push(Site {
            name: name.to_owned(),
            industry,
            synthetic: false,
            object,
            at,
            address,
        });
    }
    Ok(sites)
}

/// `needed` invented prospects on real buildings: unnamed, not a business, a real footprint,
/// inside a known municipality (so the invented address is right), near a named car road,
/// and not already holding one of the real businesses. Chosen at random with the seeded
/// prospects stream, then listed by building id.
fn prospects(
    extract: &Extract,
    frame: &LocalFrame,
    gazetteer: &Gazetteer,
    businesses: &[Site],
    needed: usize,
) -> anyhow::Result<Vec<Site>> {
    if needed == 0 {
        return Ok(Vec::new());
    }
    let car_roads: Vec<Vec<Xy>> = extract
        .ways
        .iter()
        .filter(|w| w.is_complete() && w.tag("highway").is_some_and(|h| CAR_HIGHWAYS.contains(&h)))
        .filter(|w| non_empty(w.tag("name")).is_some())
        .map(|w| w.coords.iter().map(|p| frame.project(*p)).collect())
        .collect();
    let car_roads = LineIndex::new(&car_roads, PROSPECT_ROAD_DISTANCE_M);
    let business_points: Vec<LonLat> = businesses.iter().map(|b| b.at).collect();

    let mut candidates: Vec<(i64, LonLat, &Tags)> = extract
        .ways
        .iter()
        .filter(|w| w.is_closed())
        .filter(|w| {
            w.tag("building")
                .is_some_and(|b| !NON_PROSPECT_BUILDINGS.contains(&b))
        })
        .filter(|w| w.tag("name").is_none() && BUSINESS_KEYS.iter().all(|k| w.tag(k).is_none()))
        .filter(|w| ring_area_m2(&w.coords, frame) >= MIN_PROSPECT_FOOTPRINT_M2)
        .filter_map(|w| Some((w.id, ring_centroid(&w.coords)?, &w.tags, &w.coords)))
        .filter(|(_, at, _, _)| gazetteer.municipality(*at).is_some())
        .filter(|(_, at, _, _)| {
            car_roads
                .nearest_within(frame.project(*at), PROSPECT_ROAD_DISTANCE_M)
                .is_some()
        })
        .filter(|(_, _, _, ring)| !business_points.iter().any(|p| ring_contains(ring, *p)))
        .map(|(id, at, tags, _)| (id, at, tags))
        .collect();
    anyhow::ensure!(
        candidates.len() >= needed,
        "only {} buildings qualify for synthetic prospects, {needed} needed",
        candidates.len()
    );

    let mut rng = crm::rng(DEMO_SEED, Stream::Prospects);
    let (picked, _) = candidates.partial_shuffle(&mut rng, needed);
    let mut picked = picked.to_vec();
    picked.sort_by_key(|(id, _, _)| *id);

    let mut taken: BTreeSet<String> = businesses.iter().map(|b| b.name.clone()).collect();
    let mut sites = Vec::with_capacity(needed);
    for (way_id, at, tags) in picked {
        let object = OsmObject::Way(way_id);
        let address = gazetteer
            .address(at, tags)
            .with_context(|| format!("addressing {}", object.osm_ref()))?;
        let kind = rng.random_range(0..crm::PROSPECT_KINDS.len());
        let (name, industry) =
            crm::prospect_identity(&address.street, kind, &|name: &str| taken.contains(name));
        taken.insert(name.clone());
        sites.push(Site {
            name,
            industry,
            synthetic: true,
            object,
            at,
            address,
        });
    }
    Ok(sites)
}

/// Whether a closed ring contains a point; the bounding-box test first keeps the scan of
/// every business against every candidate building cheap.
fn ring_contains(ring: &[LonLat], p: LonLat) -> bool {
    let (lons, lats) = (ring.iter().map(|q| q.lon()), ring.iter().map(|q| q.lat()));
    let (min_lon, max_lon) = lons.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (min_lat, max_lat) = lats.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    (min_lon..=max_lon).contains(&p.lon())
        && (min_lat..=max_lat).contains(&p.lat())
        && Region::from_rings(&[ring.to_vec()]).contains(p)
}

/// The six reps with home bases on residential, tertiary or secondary streets near the
/// account clusters; returned with the unrounded home position.
fn reps(
    extract: &Extract,
    frame: &LocalFrame,
    account_xy: &[Xy],
) -> anyhow::Result<Vec<(DemoRep, LonLat)>> {
    // Keyed by node id so a node shared by two streets is one candidate, in a stable order.
    let candidates: std::collections::BTreeMap<i64, LonLat> = extract
        .ways
        .iter()
        .filter(|w| {
            w.is_complete()
                && w.tag("highway")
                    .is_some_and(|h| HOME_BASE_HIGHWAYS.contains(&h))
        })
        .filter(|w| non_empty(w.tag("name")).is_some())
        .flat_map(|w| w.node_ids.iter().copied().zip(w.coords.iter().copied()))
        .collect();
    let candidates: Vec<LonLat> = candidates.into_values().collect();
    let candidate_xy: Vec<Xy> = candidates.iter().map(|p| frame.project(*p)).collect();
    let picked = crm::home_bases(account_xy, &candidate_xy, REPS.len());
    anyhow::ensure!(
        picked.len() == REPS.len(),
        "only {} street nodes to put rep home bases on",
        picked.len()
    );

    Ok(REPS
        .iter()
        .zip(picked)
        .enumerate()
        .map(|(i, (identity, c))| {
            let home = candidates[c];
            let rep = DemoRep {
                crm_owner_id: format!("owner-{}", i + 1),
                name: identity.name.to_owned(),
                email: identity.email.to_owned(),
                home_lon: round_7(home.lon()),
                home_lat: round_7(home.lat()),
                work_start: WORK_START.to_owned(),
                work_end: WORK_END.to_owned(),
            };
            (rep, home)
        })
        .collect())
}

/// Rounds degrees to 7 decimals (about 1 cm), the precision OSM stores, so the file does
/// not carry float noise from centroid arithmetic.
fn round_7(deg: f64) -> f64 {
    (deg * 1e7).round() / 1e7
}

/// Checks what every consumer of the file relies on.
fn validate(ds: &DemoDataset) -> anyhow::Result<()> {
    for rep in &ds.reps {
        LonLat::new(rep.home_lon, rep.home_lat)
            .with_context(|| format!("home base of {}", rep.crm_owner_id))?;
    }
    let owners: BTreeSet<&str> = ds.reps.iter().map(|r| r.crm_owner_id.as_str()).collect();
    anyhow::ensure!(owners.len() == ds.reps.len(), "duplicate rep owner ids");
    let mut ids = BTreeSet::new();
    for a in &ds.accounts {
        LonLat::new(a.lon, a.lat).with_context(|| format!("coordinates of {}", a.crm_id))?;
        anyhow::ensure!(
            ids.insert(a.crm_id.as_str()),
            "duplicate crm_id {}",
            a.crm_id
        );
        anyhow::ensure!(
            owners.contains(a.owner_crm_id.as_str()),
            "{} is owned by unknown rep {}",
            a.crm_id,
            a.owner_crm_id
        );
        anyhow::ensure!(
            !a.address.street.is_empty() && !a.address.city.is_empty(),
            "{} has an incomplete address",
            a.crm_id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osm::pbf::tags;

    #[test]
    fn shops_offices_and_restaurants_are_businesses() {
        assert_eq!(
            business_kind(&tags(&[("shop", "bakery")])).as_deref(),
            Some("shop:bakery")
        );
        assert_eq!(
            business_kind(&tags(&[("office", "company")])).as_deref(),
            Some("office:company")
        );
        assert_eq!(
            business_kind(&tags(&[("amenity", "restaurant")])).as_deref(),
            Some("amenity:restaurant")
        );
    }

    #[test]
    fn street_furniture_and_viewpoints_are_not_businesses() {
        for (k, v) in [
            ("amenity", "bench"),
            ("amenity", "parking"),
            ("tourism", "viewpoint;yes"),
            ("shop", "vacant"),
        ] {
            assert_eq!(business_kind(&tags(&[(k, v)])), None, "{k}={v}");
        }
        assert_eq!(business_kind(&tags(&[("building", "yes")])), None);
    }

    #[test]
    fn a_shop_key_wins_over_an_excluded_amenity() {
        let t = tags(&[("amenity", "parking"), ("shop", "car")]);
        assert_eq!(business_kind(&t).as_deref(), Some("shop:car"));
    }

    #[test]
    fn coordinates_are_rounded_to_seven_decimals() {
        assert_eq!(round_7(7.423_456_789_9), 7.423_456_8);
        assert_eq!(round_7(-0.000_000_04), 0.0);
    }

    #[test]
    fn osm_refs_name_the_object_type() {
        assert_eq!(OsmObject::Node(42).osm_ref(), "node/42");
        assert_eq!(OsmObject::Way(7).osm_ref(), "way/7");
    }

    #[test]
    fn json_ends_with_a_newline_and_reads_back_equal() {
        let ds = DemoDataset {
            derived_from: "tiny.osm.pbf".to_owned(),
            attribution: OSM_ATTRIBUTION.to_owned(),
            seed: DEMO_SEED,
            reps: vec![],
            accounts: vec![],
        };
        let json = to_json(&ds).expect("serializable");
        assert!(json.ends_with("}\n"));
        let back: DemoDataset = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, ds);
    }
}
