//! The in-memory index of accounts that may raise an alert: an R-tree of their positions with
//! what the cheap filters need (who holds the account, priority, value). Loaded from the
//! database and kept current by [`super::Proximity::refresh`]; the exact rules (visits,
//! today's route, opening hours, cooldown) are checked in the database when an alert is about
//! to be raised (`super::super::alerts`).

use std::collections::HashMap;

use rstar::{AABB, PointDistance, RTree, RTreeObject};
use uuid::Uuid;

use crate::spatial::LonLat;

/// Metres per degree of latitude (and of longitude at the equator).
const M_PER_DEG: f64 = 111_320.0;

/// A position in local metres: x east (scaled by the latitude's cosine), y north. Distances
/// between nearby points come out within a fraction of a percent of the great-circle ones, so
/// the tree can hand out accounts nearest first.
fn metres(p: LonLat) -> [f64; 2] {
    [
        p.lon() * M_PER_DEG * p.lat().to_radians().cos(),
        p.lat() * M_PER_DEG,
    ]
}

/// One account as the index holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub account_id: Uuid,
    pub position: LonLat,
    /// The rep who holds it (its owner, else its territory's rep); `None`: unassigned.
    pub rep: Option<Uuid>,
    /// 1 (highest) to 5.
    pub priority: i16,
    pub annual_value: f64,
}

/// An [`Entry`] in the tree, keyed by its position in local metres ([`metres`]).
#[derive(Debug, Clone, PartialEq)]
struct Node(Entry, [f64; 2]);

impl Node {
    fn of(entry: Entry) -> Self {
        let xy = metres(entry.position);
        Self(entry, xy)
    }
}

impl RTreeObject for Node {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.1)
    }
}

impl PointDistance for Node {
    fn distance_2(&self, point: &[f64; 2]) -> f64 {
        let dx = self.1[0] - point[0];
        let dy = self.1[1] - point[1];
        dx * dx + dy * dy
    }
}

/// The accounts' R-tree and, per account, its current entry (for updates and removals).
#[derive(Default)]
pub struct AccountIndex {
    tree: RTree<Node>,
    by_id: HashMap<Uuid, Entry>,
}

impl AccountIndex {
    /// An index of `entries` (bulk-loaded).
    pub fn new(entries: Vec<Entry>) -> Self {
        let by_id = entries
            .iter()
            .map(|e| (e.account_id, e.clone()))
            .collect::<HashMap<_, _>>();
        let tree = RTree::bulk_load(by_id.values().cloned().map(Node::of).collect());
        Self { tree, by_id }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Puts `entry` in (replacing the account's earlier one).
    pub fn upsert(&mut self, entry: Entry) {
        if let Some(old) = self.by_id.get(&entry.account_id) {
            if *old == entry {
                return;
            }
            self.tree.remove(&Node::of(old.clone()));
        }
        self.by_id.insert(entry.account_id, entry.clone());
        self.tree.insert(Node::of(entry));
    }

    /// Takes the account out (deleted, no longer located).
    pub fn remove(&mut self, account_id: Uuid) {
        if let Some(old) = self.by_id.remove(&account_id) {
            self.tree.remove(&Node::of(old));
        }
    }

    /// The nearest `limit` accounts within `radius_m` metres of `at` that `keep` accepts,
    /// each with its great-circle distance in metres, nearest first. Walks the tree nearest
    /// first and stops at `limit` or the radius: where accounts are dense it never looks at
    /// the hundreds further away.
    pub fn within(
        &self,
        at: LonLat,
        radius_m: f64,
        limit: usize,
        mut keep: impl FnMut(&Entry) -> bool,
    ) -> Vec<(&Entry, f64)> {
        let mut found: Vec<(&Entry, f64)> = Vec::new();
        // The local metres are within a fraction of a percent of the true distance here.
        let beyond = radius_m * 1.01 + 1.0;
        for (node, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&metres(at)) {
            if d2.sqrt() > beyond || found.len() >= limit {
                break;
            }
            if !keep(&node.0) {
                continue;
            }
            let d = at.distance_m(node.0.position);
            if d <= radius_m {
                found.push((&node.0, d));
            }
        }
        found.sort_by(|a, b| a.1.total_cmp(&b.1));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(lon: f64, lat: f64, rep: Option<Uuid>) -> Entry {
        Entry {
            account_id: Uuid::new_v4(),
            position: LonLat::new(lon, lat).expect("valid in tests"),
            rep,
            priority: 1,
            annual_value: 1000.0,
        }
    }

    #[test]
    fn finds_what_lies_within_the_radius_nearest_first() {
        let here = LonLat::new(7.4200, 43.7350).expect("valid");
        // ~110 m and ~220 m north, ~400 m east.
        let near = entry(7.4200, 43.7360, None);
        let farther = entry(7.4200, 43.7370, None);
        let outside = entry(7.4250, 43.7350, None);
        let index = AccountIndex::new(vec![farther.clone(), outside, near.clone()]);
        let found = index.within(here, 300.0, 10, |_| true);
        let ids: Vec<Uuid> = found.iter().map(|(e, _)| e.account_id).collect();
        assert_eq!(ids, vec![near.account_id, farther.account_id]);
        assert!((found[0].1 - 111.0).abs() < 2.0, "{}", found[0].1);
        // Only the nearest one when asked for one.
        let one = index.within(here, 300.0, 1, |_| true);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].0.account_id, near.account_id);
    }

    #[test]
    fn updates_move_and_remove_accounts() {
        let here = LonLat::new(7.4200, 43.7350).expect("valid");
        let rep = Uuid::new_v4();
        let mut a = entry(7.4300, 43.7350, Some(rep));
        let mut index = AccountIndex::new(vec![a.clone()]);
        assert!(index.within(here, 300.0, 10, |_| true).is_empty());
        a.position = LonLat::new(7.4201, 43.7351).expect("valid");
        index.upsert(a.clone());
        assert_eq!(
            index.within(here, 300.0, 10, |e| e.rep == Some(rep)).len(),
            1
        );
        assert!(
            index
                .within(here, 300.0, 10, |e| e.rep.is_none())
                .is_empty()
        );
        index.remove(a.account_id);
        assert!(index.within(here, 300.0, 10, |_| true).is_empty());
        assert_eq!(index.len(), 0);
    }
}
