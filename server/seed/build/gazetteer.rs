//! Postal addresses for points: an object's own `addr:*` tags where it has them, otherwise the
//! nearest named street, the municipality the point lies in and the nearest known postcode.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::osm::geometry::{LineIndex, LocalFrame, Region, Xy, assemble_rings, ring_centroid};
use crate::osm::pbf::{Extract, Relation, Tags};
use crate::osm::tags::{is_address_street, non_empty};
use crate::seed::dataset::DemoAddress;
use crate::spatial::LonLat;

/// Postcodes are taken from address points no farther than this; beyond it the
/// municipality's usual postcode is as good a guess and does not spread one-off codes
/// (a CEDEX code tagged on a single organisation) over a whole district.
pub const POSTCODE_RADIUS_M: f64 = 500.0;

/// The extract covers Monaco and its French neighbours, so anything not shown to be in
/// Monaco (by a place node's country tag or a `980xx` postcode) is in France.
const DEFAULT_COUNTRY: &str = "FR";

/// Tags a place node may carry its ISO 3166-1 alpha-2 country code in, most specific first.
const COUNTRY_CODE_TAGS: &[&str] = &[
    "ISO3166-1:alpha2",
    "ISO3166-1",
    "country_code_iso3166_1_alpha_2",
    "addr:country",
];

/// Grid cell for the street index: about a city block, so a lookup touches few segments.
const STREET_CELL_M: f64 = 100.0;

/// `place=*` values that name a municipality. Suburbs, quarters and neighbourhoods are left
/// out on purpose: a postal address names the commune ("06240 Beausoleil", "98000 Monaco"),
/// not the quarter, and a quarter node is often nearer than its own town's node.
const MUNICIPALITY_PLACES: &[&str] = &["city", "town", "village"];

/// A commune (`boundary=administrative`, `admin_level=8`) whose boundary closes in the extract.
#[derive(Debug, Clone)]
pub struct Municipality {
    pub name: String,
    /// The commune's own `addr:postcode` tag.
    pub postcode: Option<String>,
    pub region: Region,
}

/// A `place=city|town|village` node: names the city of points outside every known
/// municipality, and may say which country its municipality is in.
#[derive(Debug, Clone)]
pub struct PlaceNode {
    pub name: String,
    pub at: LonLat,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2 code if the node is tagged with one (capitals often are).
    pub country: Option<String>,
}

/// Everything the gazetteer is built from, so tests can hand-make it.
#[derive(Debug, Clone, Default)]
pub struct GazetteerInput {
    /// `(street name, polyline)`.
    pub streets: Vec<(String, Vec<LonLat>)>,
    pub municipalities: Vec<Municipality>,
    pub places: Vec<PlaceNode>,
    /// `(postcode, position)` of objects tagged `addr:postcode`.
    pub postcodes: Vec<(String, LonLat)>,
}

/// Where a point is: the city to write in its address, a postcode and a country.
#[derive(Debug, Clone, PartialEq)]
pub struct Locality {
    pub city: String,
    pub postcode: Option<String>,
    pub country_code: String,
}

/// A municipality with what the gazetteer learnt from the points inside it.
#[derive(Debug, Clone)]
struct KnownMunicipality {
    municipality: Municipality,
    /// The most common postcode of the address points inside.
    usual_postcode: Option<String>,
    /// The country tagged on a place node inside, if any.
    country: Option<String>,
}

/// Answers address questions for points of one extract.
#[derive(Debug, Clone)]
pub struct Gazetteer {
    frame: LocalFrame,
    street_names: Vec<String>,
    streets: LineIndex,
    municipalities: Vec<KnownMunicipality>,
    places: Vec<(PlaceNode, Xy)>,
    /// `(postcode, position, index of the municipality containing it)`.
    postcodes: Vec<(String, Xy, Option<usize>)>,
}

impl Gazetteer {
    pub fn new(frame: LocalFrame, input: GazetteerInput) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !input.streets.is_empty(),
            "no named streets to build addresses from"
        );
        anyhow::ensure!(
            !(input.municipalities.is_empty() && input.places.is_empty()),
            "no municipality boundaries or place nodes to name cities from"
        );
        let (street_names, lines): (Vec<String>, Vec<Vec<Xy>>) = input
            .streets
            .into_iter()
            .map(|(name, line)| (name, line.iter().map(|p| frame.project(*p)).collect()))
            .unzip();
        let streets = LineIndex::new(&lines, STREET_CELL_M);

        let postcodes: Vec<(String, Xy, Option<usize>)> = input
            .postcodes
            .into_iter()
            .map(|(code, at)| {
                let m = input
                    .municipalities
                    .iter()
                    .position(|m| m.region.contains(at));
                (code, frame.project(at), m)
            })
            .collect();
        let municipalities = input
            .municipalities
            .into_iter()
            .enumerate()
            .map(|(i, municipality)| {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for (code, _, _) in postcodes.iter().filter(|(_, _, m)| *m == Some(i)) {
                    *counts.entry(code.as_str()).or_default() += 1;
                }
                // On a tie the smaller postcode wins, whatever the input order.
                let usual_postcode = counts
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(code, _)| (*code).to_owned());
                let country = input
                    .places
                    .iter()
                    .filter(|p| municipality.region.contains(p.at))
                    .find_map(|p| p.country.clone());
                KnownMunicipality {
                    municipality,
                    usual_postcode,
                    country,
                }
            })
            .collect();
        let places = input
            .places
            .into_iter()
            .map(|p| (p.clone(), frame.project(p.at)))
            .collect();

        Ok(Self {
            frame,
            street_names,
            streets,
            municipalities,
            places,
            postcodes,
        })
    }

    /// Collects streets, municipalities, places and postcode points from an extract.
    pub fn from_extract(extract: &Extract, frame: LocalFrame) -> anyhow::Result<Self> {
        let streets = extract
            .ways
            .iter()
            .filter(|w| w.is_complete() && w.tag("highway").is_some_and(is_address_street))
            .filter_map(|w| Some((non_empty(w.tag("name"))?.to_owned(), w.coords.clone())))
            .collect();

        // Communes cut by the edge of the extract do not close and are skipped; their points
        // fall back to the nearest place node.
        let municipalities = extract
            .relations
            .iter()
            .filter(|r| {
                r.tag("boundary") == Some("administrative") && r.tag("admin_level") == Some("8")
            })
            .filter_map(|r| {
                Some(Municipality {
                    name: non_empty(r.tag("name"))?.to_owned(),
                    postcode: non_empty(r.tag("addr:postcode")).map(str::to_owned),
                    region: boundary_region(extract, r)?,
                })
            })
            .collect();

        let places = extract
            .nodes
            .iter()
            .filter(|n| {
                n.tag("place")
                    .is_some_and(|p| MUNICIPALITY_PLACES.contains(&p))
            })
            .filter_map(|n| {
                Some(PlaceNode {
                    name: non_empty(n.tag("name"))?.to_owned(),
                    at: n.at,
                    postcode: non_empty(n.tag("addr:postcode")).map(str::to_owned),
                    country: COUNTRY_CODE_TAGS
                        .iter()
                        .find_map(|k| country_code(n.tag(k))),
                })
            })
            .collect();

        // Address points: tagged nodes, and closed ways at their centroid. Place nodes carry
        // a commune-wide postcode that says nothing about the exact spot, so they are skipped.
        let node_postcodes = extract
            .nodes
            .iter()
            .filter(|n| n.tag("place").is_none())
            .filter_map(|n| Some((non_empty(n.tag("addr:postcode"))?.to_owned(), n.at)));
        let way_postcodes = extract
            .ways
            .iter()
            .filter(|w| w.is_closed())
            .filter_map(|w| {
                Some((
                    non_empty(w.tag("addr:postcode"))?.to_owned(),
                    ring_centroid(&w.coords)?,
                ))
            });
        let postcodes = node_postcodes.chain(way_postcodes).collect();

        Self::new(
            frame,
            GazetteerInput {
                streets,
                municipalities,
                places,
                postcodes,
            },
        )
        .context("building the gazetteer from the extract")
    }

    /// Name of the municipality whose boundary contains the point.
    pub fn municipality(&self, at: LonLat) -> Option<&str> {
        self.municipality_index(at)
            .map(|i| self.municipalities[i].municipality.name.as_str())
    }

    fn municipality_index(&self, at: LonLat) -> Option<usize> {
        self.municipalities
            .iter()
            .position(|m| m.municipality.region.contains(at))
    }

    /// Name of the nearest named street and its distance in metres.
    pub fn nearest_street(&self, at: LonLat) -> Option<(&str, f64)> {
        let (line, distance_m) = self.streets.nearest(self.frame.project(at))?;
        Some((self.street_names[line].as_str(), distance_m))
    }

    /// Where a point is:
    /// - city: the municipality containing it, or else the nearest city, town or village node;
    /// - postcode: the nearest address point's within [`POSTCODE_RADIUS_M`] and in the same
    ///   municipality, or else the municipality's own tag, or else the most common one inside
    ///   it (outside every municipality: the fallback place node's tag);
    /// - country: tagged on a place node in the municipality (or on the fallback place node),
    ///   or else `MC` for a `980xx` postcode, or else [`DEFAULT_COUNTRY`].
    pub fn locality(&self, at: LonLat) -> Locality {
        let xy = self.frame.project(at);
        let municipality = self.municipality_index(at);

        let (city, area_postcode, area_country) =
            match municipality.map(|i| &self.municipalities[i]) {
                Some(m) => (
                    m.municipality.name.clone(),
                    m.municipality
                        .postcode
                        .clone()
                        .or_else(|| m.usual_postcode.clone()),
                    m.country.clone(),
                ),
                None => match self.nearest_place(xy) {
                    Some(p) => (p.name.clone(), p.postcode.clone(), p.country.clone()),
                    None => (String::new(), None, None),
                },
            };

        let nearby_postcode = self
            .postcodes
            .iter()
            .filter(|(_, _, m)| municipality.is_none() || *m == municipality)
            .map(|(code, p, _)| (xy.distance_m(*p), code))
            .filter(|(d, _)| *d <= POSTCODE_RADIUS_M)
            // Ties go to the smaller postcode so the answer never depends on input order.
            .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)))
            .map(|(_, code)| code.clone());
        let postcode = nearby_postcode.or(area_postcode);

        let country_code = area_country
            .or_else(|| {
                postcode
                    .as_deref()
                    .filter(|p| p.starts_with("980"))
                    .map(|_| "MC".to_owned())
            })
            .unwrap_or_else(|| DEFAULT_COUNTRY.to_owned());

        Locality {
            city,
            postcode,
            country_code,
        }
    }

    fn nearest_place(&self, xy: Xy) -> Option<&PlaceNode> {
        self.places
            .iter()
            .min_by(|a, b| {
                xy.distance_m(a.1)
                    .total_cmp(&xy.distance_m(b.1))
                    .then_with(|| a.0.name.cmp(&b.0.name))
            })
            .map(|(p, _)| p)
    }

    /// The address of an object at `at` with tags `tags`.
    ///
    /// With `addr:street` the street and house number come from the tags
    /// (`from_osm_tags = true`); otherwise the street is the nearest named one and there is no
    /// house number. Either way a tagged postcode, city or country wins over a derived one,
    /// because the mapper who tagged it knew better than a distance does.
    pub fn address(&self, at: LonLat, tags: &Tags) -> anyhow::Result<DemoAddress> {
        let tag = |key: &str| non_empty(tags.get(key).map(String::as_str)).map(str::to_owned);
        let locality = self.locality(at);
        let country_code = country_code(tags.get("addr:country").map(String::as_str))
            .unwrap_or(locality.country_code);
        let postal_code = tag("addr:postcode").or(locality.postcode);
        let city = tag("addr:city").unwrap_or(locality.city);
        anyhow::ensure!(
            !city.is_empty(),
            "no city found for the point at {}, {}",
            at.lon(),
            at.lat()
        );

        let (house_number, street, from_osm_tags) = if let Some(street) = tag("addr:street") {
            (tag("addr:housenumber"), street, true)
        } else {
            let (street, _) = self
                .nearest_street(at)
                .context("no named street in the extract")?;
            (None, street.to_owned(), false)
        };
        Ok(DemoAddress {
            house_number,
            street,
            postal_code,
            city,
            country_code,
            from_osm_tags,
        })
    }
}

/// The region bounded by a relation's way members, if they are all in the extract and close.
fn boundary_region(extract: &Extract, rel: &Relation) -> Option<Region> {
    let pieces = rel
        .way_members
        .iter()
        .filter(|(_, role)| matches!(role.as_str(), "outer" | "inner" | ""))
        .map(|(id, _)| {
            extract
                .way(*id)
                .map(|w| (w.node_ids.clone(), w.coords.clone()))
        })
        .collect::<Option<Vec<_>>>()?;
    let rings = assemble_rings(&pieces)?;
    Some(Region::from_rings(&rings))
}

/// A tag value that is an ISO 3166-1 alpha-2 code, upper-cased.
fn country_code(value: Option<&str>) -> Option<String> {
    non_empty(value)
        .map(str::to_ascii_uppercase)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osm::pbf::tags;

    use crate::spatial::test_point as ll;

    fn square(lon0: f64, lat0: f64, size_deg: f64) -> Region {
        Region::from_rings(&[vec![
            ll(lon0, lat0),
            ll(lon0 + size_deg, lat0),
            ll(lon0 + size_deg, lat0 + size_deg),
            ll(lon0, lat0 + size_deg),
            ll(lon0, lat0),
        ]])
    }

    fn place(name: &str, at: LonLat, postcode: Option<&str>, country: Option<&str>) -> PlaceNode {
        PlaceNode {
            name: name.to_owned(),
            at,
            postcode: postcode.map(str::to_owned),
            country: country.map(str::to_owned),
        }
    }

    /// Two streets 200 m apart running east-west; Monaco west of 7.42 and Beausoleil east
    /// of it, both between 43.72 and 43.74; place nodes north of both.
    fn input() -> GazetteerInput {
        GazetteerInput {
            streets: vec![
                (
                    "Rue Basse".to_owned(),
                    vec![ll(7.400, 43.730), ll(7.440, 43.730)],
                ),
                (
                    "Boulevard Haut".to_owned(),
                    vec![ll(7.400, 43.7318), ll(7.440, 43.7318)],
                ),
            ],
            municipalities: vec![
                Municipality {
                    name: "Monaco".to_owned(),
                    postcode: None,
                    region: square(7.40, 43.72, 0.02),
                },
                Municipality {
                    name: "Beausoleil".to_owned(),
                    postcode: Some("06240".to_owned()),
                    region: square(7.42, 43.72, 0.02),
                },
            ],
            places: vec![
                place("La Turbie", ll(7.40, 43.745), Some("06320"), None),
                place("Peille", ll(7.40, 43.80), None, None),
            ],
            postcodes: vec![("98000".to_owned(), ll(7.418, 43.730))],
        }
    }

    fn gazetteer(input: GazetteerInput) -> Gazetteer {
        Gazetteer::new(LocalFrame::new(ll(7.42, 43.73)), input).expect("valid input")
    }

    #[test]
    fn the_nearest_street_is_the_one_closest_to_the_point_not_to_its_first_node() {
        let g = gazetteer(input());
        assert_eq!(
            g.nearest_street(ll(7.43, 43.7302)).map(|s| s.0),
            Some("Rue Basse")
        );
        assert_eq!(
            g.nearest_street(ll(7.43, 43.7312)).map(|s| s.0),
            Some("Boulevard Haut")
        );
        let (_, distance_m) = g.nearest_street(ll(7.43, 43.7302)).expect("a street");
        assert!((distance_m - 22.2).abs() < 0.5, "{distance_m}");
    }

    #[test]
    fn the_city_is_the_municipality_containing_the_point() {
        let g = gazetteer(input());
        assert_eq!(g.locality(ll(7.419, 43.731)).city, "Monaco");
        assert_eq!(g.locality(ll(7.421, 43.731)).city, "Beausoleil");
    }

    #[test]
    fn outside_every_municipality_the_nearest_place_node_names_the_city() {
        let l = gazetteer(input()).locality(ll(7.41, 43.75));
        assert_eq!(l.city, "La Turbie");
        assert_eq!(l.postcode.as_deref(), Some("06320"));
        assert_eq!(l.country_code, "FR");
    }

    #[test]
    fn a_nearby_monaco_postcode_makes_the_country_monaco() {
        let l = gazetteer(input()).locality(ll(7.419, 43.731));
        assert_eq!(l.postcode.as_deref(), Some("98000"));
        assert_eq!(l.country_code, "MC");
    }

    #[test]
    fn a_postcode_across_the_municipal_border_is_not_borrowed() {
        // 160 m from the Monaco postcode point, but in Beausoleil.
        let l = gazetteer(input()).locality(ll(7.420_1, 43.730));
        assert_eq!(l.city, "Beausoleil");
        assert_eq!(l.postcode.as_deref(), Some("06240"));
        assert_eq!(l.country_code, "FR");
    }

    #[test]
    fn far_from_any_address_point_the_municipalitys_usual_postcode_is_used() {
        // About 1.6 km from the only Monaco postcode point, still inside Monaco.
        let l = gazetteer(input()).locality(ll(7.401, 43.721));
        assert_eq!(l.city, "Monaco");
        assert_eq!(l.postcode.as_deref(), Some("98000"));
    }

    #[test]
    fn a_place_node_tagged_with_a_country_gives_its_municipality_that_country() {
        let mut input = input();
        input.postcodes.clear();
        let untagged = gazetteer(input.clone());
        assert_eq!(untagged.locality(ll(7.41, 43.73)).country_code, "FR");

        input
            .places
            .push(place("Monaco", ll(7.415, 43.735), None, Some("MC")));
        let tagged = gazetteer(input);
        assert_eq!(tagged.locality(ll(7.41, 43.73)).country_code, "MC");
        assert_eq!(
            tagged.locality(ll(7.43, 43.73)).country_code,
            "FR",
            "Beausoleil has no such node"
        );
    }

    #[test]
    fn a_tagged_street_makes_a_tagged_address_with_the_city_filled_in() {
        let t = tags(&[
            ("addr:street", "Avenue de Verdun"),
            ("addr:housenumber", "12"),
        ]);
        let a = gazetteer(input())
            .address(ll(7.421, 43.731), &t)
            .expect("an address");
        assert!(a.from_osm_tags);
        assert_eq!(a.house_number.as_deref(), Some("12"));
        assert_eq!(a.street, "Avenue de Verdun");
        assert_eq!(a.city, "Beausoleil");
        assert_eq!(a.postal_code.as_deref(), Some("06240"));
        assert_eq!(a.country_code, "FR");
    }

    #[test]
    fn without_a_tagged_street_the_address_is_built_from_the_nearest_one() {
        let t = tags(&[("addr:housenumber", "3")]);
        let a = gazetteer(input())
            .address(ll(7.419, 43.7302), &t)
            .expect("an address");
        assert!(!a.from_osm_tags);
        assert_eq!(
            a.house_number, None,
            "a house number without its street would be a guess"
        );
        assert_eq!(a.street, "Rue Basse");
        assert_eq!(a.city, "Monaco");
        assert_eq!(a.postal_code.as_deref(), Some("98000"));
        assert_eq!(a.country_code, "MC");
    }

    #[test]
    fn a_tagged_country_wins_and_is_upper_cased() {
        let t = tags(&[("addr:country", "mc")]);
        let a = gazetteer(input())
            .address(ll(7.43, 43.73), &t)
            .expect("an address");
        assert_eq!(a.country_code, "MC");
    }
}
