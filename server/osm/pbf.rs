//! Reads an OpenStreetMap `.osm.pbf` extract into plain, id-sorted structs the builder can query.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use osmpbf::{Element, ElementReader, RelMemberType};

use crate::spatial::LonLat;

/// OSM tags; a `BTreeMap` so that anything iterating them is deterministic.
pub type Tags = BTreeMap<String, String>;

/// Tags from literal pairs, for tests.
#[cfg(test)]
pub fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A node that carries at least one tag (untagged nodes only matter as way geometry).
#[derive(Debug, Clone)]
pub struct Node {
    pub id: i64,
    pub at: LonLat,
    pub tags: Tags,
}

/// A way with its node coordinates resolved.
#[derive(Debug, Clone)]
pub struct Way {
    pub id: i64,
    pub node_ids: Vec<i64>,
    /// Coordinates of the referenced nodes present in the extract, in way order. Equal in
    /// length to `node_ids` unless the extract kept references to nodes it cut away (see
    /// [`Way::is_complete`]). Tools that drop those references instead leave a clipped way
    /// that looks complete but is shorter; a boundary clipped like that still fails to close.
    pub coords: Vec<LonLat>,
    pub tags: Tags,
}

impl Way {
    /// Every referenced node is in the extract, so `coords[i]` is the position of `node_ids[i]`.
    pub fn is_complete(&self) -> bool {
        self.coords.len() == self.node_ids.len()
    }

    /// A complete ring: at least a triangle, first node repeated at the end.
    pub fn is_closed(&self) -> bool {
        self.is_complete()
            && self.node_ids.len() >= 4
            && self.node_ids.first() == self.node_ids.last()
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

impl Node {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// A relation, keeping only its way members (all the builder needs for boundaries).
#[derive(Debug, Clone)]
pub struct Relation {
    pub id: i64,
    /// `(way id, role)` in member order.
    pub way_members: Vec<(i64, String)>,
    pub tags: Tags,
}

impl Relation {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// The parts of an extract the builder uses, each list sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    pub nodes: Vec<Node>,
    pub ways: Vec<Way>,
    pub relations: Vec<Relation>,
    /// South-west and north-east corners of all nodes, `None` for an extract without nodes.
    pub bounds: Option<(LonLat, LonLat)>,
}

impl Extract {
    /// Looks a way up by id (the list is sorted).
    pub fn way(&self, id: i64) -> Option<&Way> {
        self.ways
            .binary_search_by_key(&id, |w| w.id)
            .ok()
            .map(|i| &self.ways[i])
    }
}

/// Reads the whole file in one pass; way coordinates are resolved afterwards because a
/// file is not required to list nodes before the ways that use them.
pub fn read_pbf(path: &std::path::Path) -> anyhow::Result<Extract> {
    let reader =
        ElementReader::from_path(path).with_context(|| format!("opening {}", path.display()))?;

    // Only looked up by id, never iterated, so a HashMap cannot leak its order into the output.
    let mut positions: HashMap<i64, LonLat> = HashMap::new();
    let mut nodes = Vec::new();
    let mut raw_ways: Vec<(i64, Vec<i64>, Tags)> = Vec::new();
    let mut relations = Vec::new();
    let mut first_error: Option<anyhow::Error> = None;

    let mut add_node = |id: i64, lon: f64, lat: f64, tags: Tags| match LonLat::new(lon, lat) {
        Ok(at) => {
            positions.insert(id, at);
            if !tags.is_empty() {
                nodes.push(Node { id, at, tags });
            }
        }
        Err(e) => {
            if first_error.is_none() {
                first_error = Some(
                    anyhow::Error::new(e).context(format!("node {id} has an invalid coordinate")),
                );
            }
        }
    };

    // Tags whose key or value is not valid UTF-8 are dropped by osmpbf's iterators; the
    // builder only needs well-formed ones.
    let mut relation_role_errors = 0_usize;
    reader
        .for_each(|element| match element {
            Element::Node(n) => add_node(n.id(), n.lon(), n.lat(), collect_tags(n.tags())),
            Element::DenseNode(n) => add_node(n.id(), n.lon(), n.lat(), collect_tags(n.tags())),
            Element::Way(w) => raw_ways.push((w.id(), w.refs().collect(), collect_tags(w.tags()))),
            Element::Relation(r) => {
                let way_members = r
                    .members()
                    .filter(|m| m.member_type == RelMemberType::Way)
                    .map(|m| {
                        let role = m.role().map_or_else(
                            |_| {
                                relation_role_errors += 1;
                                String::new()
                            },
                            str::to_owned,
                        );
                        (m.member_id, role)
                    })
                    .collect();
                relations.push(Relation {
                    id: r.id(),
                    way_members,
                    tags: collect_tags(r.tags()),
                });
            }
        })
        .with_context(|| format!("reading {}", path.display()))?;
    if let Some(e) = first_error {
        return Err(e.context(format!("reading {}", path.display())));
    }
    if relation_role_errors > 0 {
        tracing::warn!(
            relation_role_errors,
            "relation member roles that are not UTF-8 were read as empty"
        );
    }

    let ways = raw_ways
        .into_iter()
        .map(|(id, node_ids, tags)| {
            let coords = node_ids
                .iter()
                .filter_map(|n| positions.get(n).copied())
                .collect();
            Way {
                id,
                node_ids,
                coords,
                tags,
            }
        })
        .collect::<Vec<_>>();

    let bounds = positions
        .values()
        .fold(None, |acc: Option<(LonLat, LonLat)>, p| {
            let (min, max) = acc.unwrap_or((*p, *p));
            // Mins and maxes of valid coordinates are themselves valid, so these cannot fail.
            let min = LonLat::new(min.lon().min(p.lon()), min.lat().min(p.lat())).unwrap_or(min);
            let max = LonLat::new(max.lon().max(p.lon()), max.lat().max(p.lat())).unwrap_or(max);
            Some((min, max))
        });

    let mut extract = Extract {
        nodes,
        ways,
        relations,
        bounds,
    };
    extract.nodes.sort_by_key(|n| n.id);
    extract.ways.sort_by_key(|w| w.id);
    extract.relations.sort_by_key(|r| r.id);
    Ok(extract)
}

fn collect_tags<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Tags {
    tags.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
