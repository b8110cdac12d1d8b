//! Turns an OpenStreetMap extract into the geocoder's raw features: address points, named
//! street segments, interpolation sections, postal areas and places, with every name
//! normalized the way queries will be.

use std::path::Path;

use super::norm;
use crate::geocode::Address;
use crate::osm::geometry::{assemble_rings, ring_centroid};
use crate::osm::pbf::{Extract, Node, Relation, Tags, Way, read_pbf};
use crate::osm::tags::{is_address_street, non_empty};
use crate::spatial::LonLat;

/// A named highway segment; the loader merges neighbouring segments of one name.
#[derive(Debug, Clone, PartialEq)]
pub struct StreetSegment {
    pub name: String,
    pub name_norm: String,
    pub line: Vec<LonLat>,
}

/// One house number at one point. `street` is `None` when the object names no street
/// (`addr:street` or `addr:place`); the loader then takes the nearest named street.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressPoint {
    pub osm_ref: String,
    pub number: HouseNumber,
    pub street: Option<(String, String)>,
    pub postcode: Option<(String, String)>,
    pub city: Option<(String, String)>,
    pub at: LonLat,
}

/// A stretch of an `addr:interpolation` way between two numbered nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpolationSection {
    pub osm_ref: String,
    pub street: String,
    pub street_norm: String,
    pub start_number: i32,
    pub end_number: i32,
    /// 2 for `odd`/`even`, 1 for `all`.
    pub step: i16,
    pub postcode_norm: Option<String>,
    pub line: Vec<LonLat>,
}

/// A `boundary=postal_code` area.
#[derive(Debug, Clone, PartialEq)]
pub struct PostcodeArea {
    pub postcode: String,
    pub postcode_norm: String,
    pub rings: Vec<Vec<LonLat>>,
}

/// A locality: a `place=*` node (`at`) or a municipal boundary (`rings`).
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub osm_ref: String,
    pub name: String,
    pub name_norm: String,
    pub kind: String,
    pub rank: i16,
    pub at: Option<LonLat>,
    pub rings: Vec<Vec<LonLat>>,
}

/// Everything the loader writes, from one extract.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub streets: Vec<StreetSegment>,
    pub addresses: Vec<AddressPoint>,
    pub interpolations: Vec<InterpolationSection>,
    pub postcode_areas: Vec<PostcodeArea>,
    pub places: Vec<Place>,
}

/// `place=*` values that a locality can name, with their rank (smaller is more important).
const PLACE_RANKS: &[(&str, i16)] = &[
    ("city", 1),
    ("town", 2),
    ("village", 3),
    ("borough", 4),
    ("suburb", 4),
    ("quarter", 5),
    ("hamlet", 6),
    ("neighbourhood", 6),
];

/// Ranges wider than this ("1-1000") are more likely typing mistakes than one building.
const MAX_RANGE_SPAN: i32 = 200;

/// Reads an extract and collects its features (CPU-bound: call it on a blocking thread).
pub fn read(path: &Path) -> anyhow::Result<Features> {
    let extract = read_pbf(path)?;
    let features = features(&extract);
    anyhow::ensure!(
        !features.addresses.is_empty() || !features.streets.is_empty(),
        "{} holds no addresses and no named streets",
        path.display()
    );
    Ok(features)
}

/// Collects the features of an extract.
pub fn features(extract: &Extract) -> Features {
    let mut f = Features::default();
    for n in &extract.nodes {
        f.addresses
            .extend(address_points(&format!("n{}", n.id), n.at, &n.tags));
        if let Some(p) = place_node(n) {
            f.places.push(p);
        }
    }
    for w in &extract.ways {
        if let Some(at) = way_point(w) {
            f.addresses
                .extend(address_points(&format!("w{}", w.id), at, &w.tags));
        }
        if let Some(s) = street_segment(w) {
            f.streets.push(s);
        }
        f.interpolations.extend(interpolation_sections(extract, w));
        if w.is_closed()
            && let Some(a) = postcode_area(&w.tags, vec![w.coords.clone()])
        {
            f.postcode_areas.push(a);
        }
    }
    for r in &extract.relations {
        let rings = || relation_rings(extract, r);
        if r.tags.contains_key("addr:housenumber")
            && let Some(at) = rings().and_then(|rs| rs.first().and_then(|ring| ring_centroid(ring)))
        {
            f.addresses
                .extend(address_points(&format!("r{}", r.id), at, &r.tags));
        }
        if let Some(rs) = rings() {
            if let Some(a) = postcode_area(&r.tags, rs.clone()) {
                f.postcode_areas.push(a);
            }
            if let Some(p) = municipality(r, rs) {
                f.places.push(p);
            }
        }
    }
    f
}

/// A house number as tagged and as the index compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseNumber {
    pub raw: String,
    pub norm: String,
    /// The leading integer ("12" of "12b").
    pub number: Option<i32>,
    /// The end of a range ("14" of "12-14").
    pub number_end: Option<i32>,
}

/// Splits an `addr:housenumber` value: "12;14" and "12, 14" are two numbers, "12-14" is a
/// range (kept as one number with an end), "12b" has the integer 12.
pub fn split_house_numbers(raw: &str) -> Vec<HouseNumber> {
    raw.split([';', ','])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .filter_map(|part| {
            let norm = norm::normalize_house_number(part)?;
            // From the normalized form, as a query's integer is: "N° 6" is 6.
            let number = leading_integer(&norm);
            let number_end = range_end(part).filter(|end| {
                number.is_some_and(|start| *end > start && *end - start <= MAX_RANGE_SPAN)
            });
            Some(HouseNumber {
                raw: part.to_owned(),
                norm,
                number,
                number_end,
            })
        })
        .collect()
}

/// The integer a house number starts with, if it starts with digits.
pub fn leading_integer(s: &str) -> Option<i32> {
    let digits: String = s
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// "12-14" (or with an en dash, or spaces around it): 14. Only for two plain integers.
fn range_end(s: &str) -> Option<i32> {
    let (a, b) = s.split_once(['-', '\u{2013}'])?;
    let (a, b) = (a.trim(), b.trim());
    let plain = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit());
    if plain(a) && plain(b) {
        b.parse().ok()
    } else {
        None
    }
}

/// The normalized form of a city name, as a query's city is normalized.
pub fn normalize_city(name: &str) -> Option<String> {
    norm::normalize(&Address {
        city: Some(name.to_owned()),
        ..Address::default()
    })
    .city
}

/// The form postcodes are compared in: normalized as a query's postcode is (`city` and
/// `country` are the context the normalizer formats it by), then only letters and digits, so
/// "SW1A 1AA" and "sw1a1aa" meet whatever country the query names.
pub fn postcode_key(code: &str, city: Option<&str>, country: Option<&str>) -> Option<String> {
    let normalized = norm::normalize(&Address {
        postal_code: Some(code.to_owned()),
        city: city.map(str::to_owned),
        country_code: country.map(str::to_owned),
        ..Address::default()
    })
    .postal_code?;
    compact_postcode(&normalized)
}

/// Only the letters and digits of an already normalized postcode.
pub fn compact_postcode(normalized: &str) -> Option<String> {
    let key: String = normalized.chars().filter(|c| c.is_alphanumeric()).collect();
    (!key.is_empty()).then_some(key)
}

/// A street name with its normalized form; `None` when it normalizes to nothing.
fn street_name(name: &str) -> Option<(String, String)> {
    let n = norm::normalize_street_name(name);
    (!n.is_empty()).then(|| (name.to_owned(), n))
}

fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    non_empty(tags.get(key).map(String::as_str))
}

/// The address points an object with `tags` at `at` stands for (none without a number).
fn address_points(osm_ref: &str, at: LonLat, tags: &Tags) -> Vec<AddressPoint> {
    let Some(raw) = tag(tags, "addr:housenumber") else {
        return Vec::new();
    };
    // Interpolation end points are indexed as well; a place node's postcode is not an address.
    if tags.contains_key("place") {
        return Vec::new();
    }
    // "Kaivopiha, Mannerheimintie": a building's name before the street, which a query's
    // normalization would set apart too.
    let street = tag(tags, "addr:street")
        .or_else(|| tag(tags, "addr:place"))
        .and_then(|s| s.rsplit(',').map(str::trim).find(|part| !part.is_empty()))
        .and_then(street_name);
    let city_tag = tag(tags, "addr:city");
    let postcode = tag(tags, "addr:postcode").and_then(|p| {
        let key = postcode_key(p, city_tag, tag(tags, "addr:country"))?;
        Some((p.to_owned(), key))
    });
    let city = city_tag.and_then(|c| Some((c.to_owned(), normalize_city(c)?)));
    split_house_numbers(raw)
        .into_iter()
        .map(|number| AddressPoint {
            osm_ref: osm_ref.to_owned(),
            number,
            street: street.clone(),
            postcode: postcode.clone(),
            city: city.clone(),
            at,
        })
        .collect()
}

/// Where a way with an address stands: a closed way's centroid, else its middle node.
fn way_point(w: &Way) -> Option<LonLat> {
    if !w.tags.contains_key("addr:housenumber") || w.tags.contains_key("addr:interpolation") {
        return None;
    }
    if w.is_closed() {
        ring_centroid(&w.coords)
    } else {
        w.coords.get(w.coords.len() / 2).copied()
    }
}

fn street_segment(w: &Way) -> Option<StreetSegment> {
    if !(w.is_complete() && w.coords.len() >= 2 && w.tag("highway").is_some_and(is_address_street))
    {
        return None;
    }
    let (name, name_norm) = street_name(tag(&w.tags, "name")?)?;
    Some(StreetSegment {
        name,
        name_norm,
        line: w.coords.clone(),
    })
}

fn tagged_node(extract: &Extract, id: i64) -> Option<&Node> {
    extract
        .nodes
        .binary_search_by_key(&id, |n| n.id)
        .ok()
        .map(|i| &extract.nodes[i])
}

/// The sections of an `addr:interpolation` way between consecutive numbered nodes.
fn interpolation_sections(extract: &Extract, w: &Way) -> Vec<InterpolationSection> {
    let step = match w.tag("addr:interpolation") {
        Some("odd" | "even") => 2,
        Some("all") => 1,
        _ => return Vec::new(),
    };
    if !w.is_complete() {
        return Vec::new();
    }
    let numbered: Vec<(usize, i32, &Node)> = w
        .node_ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            let node = tagged_node(extract, *id)?;
            let raw = tag(&node.tags, "addr:housenumber")?;
            let number = norm::normalize_house_number(raw)
                .as_deref()
                .and_then(leading_integer)?;
            Some((i, number, node))
        })
        .collect();
    let from_nodes = |key: &str| numbered.iter().find_map(|(_, _, n)| tag(&n.tags, key));
    let Some((street, street_norm)) = tag(&w.tags, "addr:street")
        .or_else(|| from_nodes("addr:street"))
        .or_else(|| tag(&w.tags, "addr:place"))
        .or_else(|| from_nodes("addr:place"))
        .and_then(street_name)
    else {
        return Vec::new();
    };
    let postcode_norm = tag(&w.tags, "addr:postcode")
        .or_else(|| from_nodes("addr:postcode"))
        .and_then(|p| postcode_key(p, from_nodes("addr:city"), from_nodes("addr:country")));
    numbered
        .windows(2)
        .filter(|pair| pair[0].1 != pair[1].1 && pair[1].0 > pair[0].0)
        .map(|pair| InterpolationSection {
            osm_ref: format!("w{}", w.id),
            street: street.clone(),
            street_norm: street_norm.clone(),
            start_number: pair[0].1,
            end_number: pair[1].1,
            step,
            postcode_norm: postcode_norm.clone(),
            line: w.coords[pair[0].0..=pair[1].0].to_vec(),
        })
        .collect()
}

/// Closed rings of a relation's outer and inner members, if they all close.
fn relation_rings(extract: &Extract, r: &Relation) -> Option<Vec<Vec<LonLat>>> {
    let pieces = r
        .way_members
        .iter()
        .filter(|(_, role)| matches!(role.as_str(), "outer" | "inner" | ""))
        .map(|(id, _)| {
            extract
                .way(*id)
                .map(|w| (w.node_ids.clone(), w.coords.clone()))
        })
        .collect::<Option<Vec<_>>>()?;
    assemble_rings(&pieces)
}

fn postcode_area(tags: &Tags, rings: Vec<Vec<LonLat>>) -> Option<PostcodeArea> {
    if tags.get("boundary").map(String::as_str) != Some("postal_code") {
        return None;
    }
    let postcode = tag(tags, "postal_code").or_else(|| tag(tags, "addr:postcode"))?;
    Some(PostcodeArea {
        postcode: postcode.to_owned(),
        postcode_norm: postcode_key(postcode, None, tag(tags, "addr:country"))?,
        rings,
    })
}

fn place_node(n: &Node) -> Option<Place> {
    let kind = n.tag("place")?;
    let rank = PLACE_RANKS.iter().find(|(k, _)| *k == kind)?.1;
    let name = tag(&n.tags, "name")?;
    Some(Place {
        osm_ref: format!("n{}", n.id),
        name: name.to_owned(),
        name_norm: normalize_city(name)?,
        kind: kind.to_owned(),
        rank,
        at: Some(n.at),
        rings: Vec::new(),
    })
}

/// Municipalities (admin levels 7-8) and their districts (9-10) with closed boundaries.
fn municipality(r: &Relation, rings: Vec<Vec<LonLat>>) -> Option<Place> {
    if r.tag("boundary") != Some("administrative") {
        return None;
    }
    let (kind, rank) = match r.tag("admin_level")? {
        "7" | "8" => ("municipality", 2),
        "9" | "10" => ("district", 5),
        _ => return None,
    };
    let name = tag(&r.tags, "name")?;
    Some(Place {
        osm_ref: format!("r{}", r.id),
        name: name.to_owned(),
        name_norm: normalize_city(name)?,
        kind: kind.to_owned(),
        rank,
        at: None,
        rings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_semicolon_list_is_several_numbers() {
        let n = split_house_numbers("12;14");
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].number, Some(12));
        assert_eq!(n[1].number, Some(14));
    }

    #[test]
    fn a_range_keeps_both_ends() {
        let n = split_house_numbers("12-14");
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].number, n[0].number_end), (Some(12), Some(14)));
        let n = split_house_numbers("12 \u{2013} 16");
        assert_eq!((n[0].number, n[0].number_end), (Some(12), Some(16)));
    }

    #[test]
    fn a_letter_suffix_keeps_the_integer() {
        let n = split_house_numbers("12A");
        assert_eq!((n[0].number, n[0].number_end), (Some(12), None));
    }

    #[test]
    fn a_backwards_or_huge_range_is_not_a_range() {
        assert_eq!(split_house_numbers("14-12")[0].number_end, None);
        assert_eq!(split_house_numbers("1-1000")[0].number_end, None);
        assert_eq!(split_house_numbers("12-b")[0].number_end, None);
    }

    #[test]
    fn a_number_without_digits_has_no_integer() {
        let n = split_house_numbers("A");
        assert_eq!(n[0].number, None);
        assert!(split_house_numbers(" ; ").is_empty());
    }
}
