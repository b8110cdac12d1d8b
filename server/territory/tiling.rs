//! The cells territories are made of: an adaptive H3 tiling of the accounts' area (heavy cells
//! split into their children until each is light), the adjacency between its cells, and the
//! *zones* graph the optimizer and the contiguity metric work on.
//!
//! - **Tiling.** The domain is every cell, at a base resolution chosen from the area (at most
//!   about [`BASE_CELLS`] cells), that covers the accounts' bounding box, so it has no holes.
//!   A cell whose accounts weigh more than [`CELL_SHARE`] of a mean territory's workload (or
//!   hold more than twice that share of a mean territory's accounts), or whose accounts carry
//!   different labels (locks to different territories, different current territories, or,
//!   for the metric, different assigned territories), is replaced by its seven children, down
//!   to [`FINEST`]. Cells follow H3's logical hierarchy: an account belongs to the ancestor of
//!   its resolution-[`FINEST`] cell, so every account is in exactly one leaf.
//! - **Adjacency.** Two leaves touch when one has a same-resolution neighbour inside the other.
//! - **Zones.** Each empty leaf joins the nearest non-empty leaf (shortest path between cell
//!   centres over the adjacency); a zone is a non-empty leaf with the empty leaves it gathered.
//!   Zones touch when any of their leaves touch. A territory is a set of zones; its shape is
//!   the union of its zones' leaves, so it is one connected piece exactly when its zones are
//!   connected in the zones graph.
//!
//! Shared by the optimizer (`super::balance`) and the plan metrics (`super::metrics`), which
//! both tile [`Unit`]s and count a territory's connected pieces with [`components`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

/// One account to place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// WGS84 longitude, degrees.
    pub lon: f64,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// Yearly workload, minutes (0 or more).
    pub workload: f64,
    /// Territory index it must be in (a lock or a rule); never moved.
    pub fixed: Option<u32>,
    /// Territory index in the plan the run starts from (stability mode), and against which
    /// moves are counted.
    pub current: Option<u32>,
}

/// Label meaning "none" (no lock, no current territory).
pub(crate) const NONE: u32 = u32::MAX;
/// Finest resolution cells are split to (about 44 m² each).
pub(crate) const FINEST: Resolution = Resolution::Thirteen;
/// Coarsest-allowed finest base resolution: leaves room for three levels of splitting.
const FINEST_BASE: u8 = 10;
/// About how many base cells cover the bounding box.
pub(crate) const BASE_CELLS: f64 = 4096.0;
/// A leaf weighs at most this share of the mean territory workload (unless it cannot split).
pub(crate) const CELL_SHARE: f64 = 0.01;

/// A local equirectangular projection about the centre of the accounts' bounding box, in
/// metres. Distortion stays under 1% within about 100 km of the centre north-south; it is used
/// for distances inside the algorithm only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Projection {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

const EARTH_RADIUS_M: f64 = 6_371_008.8;

impl Projection {
    /// Centred on the bounding box of the finite points given as (lon, lat) degrees.
    pub(crate) fn about(points: impl Iterator<Item = (f64, f64)>) -> Self {
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for (lon, lat) in points {
            if lon.is_finite() && lat.is_finite() {
                b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
            }
        }
        let (lon0, lat0) = if b[0].is_finite() {
            (f64::midpoint(b[0], b[2]), f64::midpoint(b[1], b[3]))
        } else {
            (0.0, 0.0)
        };
        let ky = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        Self {
            lon0,
            lat0,
            kx: ky * lat0.to_radians().cos(),
            ky,
        }
    }

    /// Projected (x, y) metres of a (lon, lat) in degrees.
    pub(crate) fn xy(&self, lon: f64, lat: f64) -> [f64; 2] {
        [(lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky]
    }
}

/// A fast hasher for 64-bit cell indexes (they are already well mixed in their low bits).
#[derive(Default)]
pub(crate) struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (x ^ (x >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type CellMap<V> = HashMap<u64, V, BuildHasherDefault<CellHasher>>;

/// An undirected graph in compressed sparse rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Graph {
    /// From directed pairs (both directions must be present or are added here).
    pub(crate) fn from_edges(n: usize, mut edges: Vec<(u32, u32)>) -> Self {
        let m = edges.len();
        edges.reserve(m);
        for i in 0..m {
            let (a, b) = edges[i];
            edges.push((b, a));
        }
        edges.sort_unstable();
        edges.dedup();
        let mut offsets = vec![0u32; n + 1];
        for &(a, _) in &edges {
            offsets[a as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        Self {
            offsets,
            targets: edges.into_iter().map(|(_, b)| b).collect(),
        }
    }

    pub(crate) fn neighbours(&self, i: usize) -> &[u32] {
        &self.targets[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// Connected pieces of each territory: `comp[i]` is node `i`'s piece, `pieces[c]` its
/// territory.
pub(crate) fn components(g: &Graph, assign: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut comp = vec![NONE; assign.len()];
    let mut pieces = Vec::new();
    let mut stack = Vec::new();
    for s in 0..assign.len() {
        if comp[s] != NONE || assign[s] == NONE {
            continue;
        }
        let c = pieces.len() as u32;
        pieces.push(assign[s]);
        comp[s] = c;
        stack.push(s as u32);
        while let Some(i) = stack.pop() {
            for &j in g.neighbours(i as usize) {
                if comp[j as usize] == NONE && assign[j as usize] == assign[s] {
                    comp[j as usize] = c;
                    stack.push(j);
                }
            }
        }
    }
    (comp, pieces)
}

/// Points to tile: position, workload, and labels that must not share a leaf.
pub(crate) struct TileInput<'a> {
    pub lonlat: &'a [(f64, f64)],
    pub workload: &'a [f64],
    /// Per unit; units with different non-[`NONE`] values in one label array split a cell.
    pub labels: &'a [&'a [u32]],
    /// Number of territories (sets the cell cap).
    pub territories: usize,
}

/// The adaptive tiling: leaves, which units each holds, and their adjacency.
pub(crate) struct Tiling {
    pub cells: Vec<CellIndex>,
    /// Projected centre of each leaf.
    pub centre: Vec<[f64; 2]>,
    /// Units of leaf `l` are `units[start[l]..start[l + 1]]`.
    pub start: Vec<u32>,
    pub units: Vec<u32>,
    /// Leaf of each unit (`NONE` for a unit with invalid coordinates).
    pub unit_leaf: Vec<u32>,
    pub graph: Graph,
}

impl Tiling {
    pub(crate) fn leaf_units(&self, leaf: usize) -> &[u32] {
        &self.units[self.start[leaf] as usize..self.start[leaf + 1] as usize]
    }

    /// Builds the tiling of `input`, in the given projection.
    pub(crate) fn build(input: &TileInput<'_>, proj: &Projection) -> Self {
        let n = input.lonlat.len();
        let mut fine: Vec<(u64, u32)> = Vec::with_capacity(n);
        for (i, &(lon, lat)) in input.lonlat.iter().enumerate() {
            if let Ok(p) = LatLng::new(lat, lon) {
                fine.push((u64::from(p.to_cell(FINEST)), i as u32));
            }
        }
        fine.sort_unstable();
        let sorted: Vec<CellIndex> = fine
            .iter()
            .filter_map(|&(c, _)| CellIndex::try_from(c).ok())
            .collect();
        let order: Vec<u32> = fine.iter().map(|&(_, i)| i).collect();
        drop(fine);

        let total_w: f64 = order.iter().map(|&i| input.workload[i as usize]).sum();
        let k = input.territories.max(1) as f64;
        let cap_w = total_w / k * CELL_SHARE;
        let cap_n = (order.len() as f64 / k * CELL_SHARE * 2.0).max(1.0);
        let mut prefix = Vec::with_capacity(order.len() + 1);
        prefix.push(0.0);
        let mut acc = 0.0;
        for &i in &order {
            acc += input.workload[i as usize];
            prefix.push(acc);
        }

        let base = base_resolution(input.lonlat, proj);
        let domain = base_domain(input.lonlat, &sorted, base);

        // Depth-first splitting over contiguous ranges of the sorted fine cells.
        let mut cells = Vec::new();
        let mut start = vec![0u32];
        let mut stack: Vec<(CellIndex, usize, usize)> = Vec::new();
        let mut p = 0usize;
        for &b in &domain {
            let a = p;
            while p < sorted.len() && sorted[p].parent(base) == Some(b) {
                p += 1;
            }
            stack.push((b, a, p));
            while let Some((cell, a, e)) = stack.pop() {
                let res = cell.resolution();
                let split = e - a >= 2
                    && res < FINEST
                    && sorted[a] != sorted[e - 1]
                    && (prefix[e] - prefix[a] > cap_w
                        || (e - a) as f64 > cap_n
                        || mixed(input.labels, &order[a..e]));
                let children = if split {
                    child_ranges(cell, &sorted, a, e)
                } else {
                    None
                };
                if let Some(ch) = children {
                    stack.extend(ch.into_iter().rev());
                } else {
                    cells.push(cell);
                    start.push(e as u32);
                }
            }
        }
        // Units whose base cell was not in the domain cannot happen (the domain includes
        // every unit's base cell), but keep the ranges honest if it did.
        let units = order;
        let mut unit_leaf = vec![NONE; n];
        for l in 0..cells.len() {
            for &u in &units[start[l] as usize..start[l + 1] as usize] {
                unit_leaf[u as usize] = l as u32;
            }
        }
        let centre = cells
            .iter()
            .map(|&c| {
                let ll = LatLng::from(c);
                proj.xy(ll.lng(), ll.lat())
            })
            .collect();
        let graph = adjacency(&cells, base);
        Self {
            cells,
            centre,
            start,
            units,
            unit_leaf,
            graph,
        }
    }
}

fn mixed(labels: &[&[u32]], units: &[u32]) -> bool {
    labels.iter().any(|lab| {
        let mut first = NONE;
        for &u in units {
            let v = lab[u as usize];
            if v != NONE {
                if first == NONE {
                    first = v;
                } else if v != first {
                    return true;
                }
            }
        }
        false
    })
}

fn child_ranges(
    cell: CellIndex,
    sorted: &[CellIndex],
    a: usize,
    e: usize,
) -> Option<Vec<(CellIndex, usize, usize)>> {
    let res = cell.resolution().succ()?;
    let mut out = Vec::with_capacity(7);
    let mut p = a;
    for child in cell.children(res) {
        let s = p;
        while p < e && sorted[p].parent(res) == Some(child) {
            p += 1;
        }
        out.push((child, s, p));
    }
    (p == e).then_some(out)
}

/// `[min x, min y, max x, max y]` of the finite points, each placed by `xy`; infinite (min
/// above max) when there are none.
fn bounds(lonlat: &[(f64, f64)], xy: impl Fn(f64, f64) -> [f64; 2]) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for &(lon, lat) in lonlat {
        if lon.is_finite() && lat.is_finite() {
            let [x, y] = xy(lon, lat);
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
    }
    b
}

/// The finest resolution (at most [`FINEST_BASE`]) at which the bounding box holds at most
/// about [`BASE_CELLS`] cells.
fn base_resolution(lonlat: &[(f64, f64)], proj: &Projection) -> Resolution {
    let b = bounds(lonlat, |lon, lat| proj.xy(lon, lat));
    let area_m2 = if b[0].is_finite() {
        (b[2] - b[0]).max(1.0) * (b[3] - b[1]).max(1.0)
    } else {
        1.0
    };
    for r in (0..=FINEST_BASE).rev() {
        if let Ok(res) = Resolution::try_from(r)
            && area_m2 / res.area_m2() <= BASE_CELLS
        {
            return res;
        }
    }
    Resolution::Zero
}

/// Base cells covering the bounding box (sampled on a grid finer than the cells), plus every
/// unit's base cell; sorted.
fn base_domain(lonlat: &[(f64, f64)], sorted: &[CellIndex], base: Resolution) -> Vec<CellIndex> {
    let b = bounds(lonlat, |lon, lat| [lon, lat]);
    let mut out: Vec<u64> = sorted
        .iter()
        .filter_map(|c| c.parent(base))
        .map(u64::from)
        .collect();
    if b[0].is_finite() {
        let edge_m = base.edge_length_m();
        let m_per_deg = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        let max_abs_lat = b[1].abs().max(b[3].abs()).min(85.0);
        let dlat = edge_m / m_per_deg;
        let dlon = dlat / max_abs_lat.to_radians().cos();
        let (lon_min, lon_max) = (b[0] - dlon, b[2] + dlon);
        let (lat_min, lat_max) = ((b[1] - dlat).max(-89.9), (b[3] + dlat).min(89.9));
        let (step_lat, step_lon) = (dlat * 0.5, dlon * 0.5);
        let rows = ((lat_max - lat_min) / step_lat).ceil() as usize + 1;
        let cols = ((lon_max - lon_min) / step_lon).ceil() as usize + 1;
        for r in 0..rows {
            let lat = (lat_min + r as f64 * step_lat).min(lat_max);
            for c in 0..cols {
                let lon = (lon_min + c as f64 * step_lon).min(lon_max);
                if let Ok(p) = LatLng::new(lat, lon) {
                    out.push(u64::from(p.to_cell(base)));
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out.into_iter()
        .filter_map(|c| CellIndex::try_from(c).ok())
        .collect()
}

/// Leaf adjacency: a leaf's same-resolution neighbour lies in the leaf that is it or its
/// nearest ancestor present in the tiling.
fn adjacency(cells: &[CellIndex], base: Resolution) -> Graph {
    let mut index: CellMap<u32> = CellMap::default();
    index.reserve(cells.len());
    for (i, &c) in cells.iter().enumerate() {
        index.insert(u64::from(c), i as u32);
    }
    let mut edges = Vec::with_capacity(cells.len() * 4);
    let mut ring: Vec<CellIndex> = Vec::with_capacity(7);
    for (i, &c) in cells.iter().enumerate() {
        ring.clear();
        let fast: Option<Vec<CellIndex>> = c.grid_disk_fast(1).collect();
        match fast {
            Some(v) => ring.extend(v),
            None => ring.extend(c.grid_disk_safe(1)),
        }
        let res = c.resolution();
        for &nb in &ring {
            if nb == c {
                continue;
            }
            let mut r = u8::from(res);
            while let Ok(rr) = Resolution::try_from(r) {
                if let Some(anc) = nb.parent(rr)
                    && let Some(&j) = index.get(&u64::from(anc))
                {
                    if j as usize != i {
                        edges.push((i as u32, j));
                    }
                    break;
                }
                if rr <= base {
                    break;
                }
                r -= 1;
            }
        }
    }
    Graph::from_edges(cells.len(), edges)
}

/// Zones: non-empty leaves (nodes), with each empty leaf joined to its nearest node.
pub(crate) struct Zones {
    /// Leaf of each node.
    pub node_leaf: Vec<u32>,
    /// Node owning each leaf (`NONE` when no node can reach it).
    pub leaf_owner: Vec<u32>,
    pub graph: Graph,
}

impl Zones {
    pub(crate) fn build(t: &Tiling) -> Self {
        let leaves = t.cells.len();
        let mut node_leaf = Vec::new();
        let mut leaf_owner = vec![NONE; leaves];
        let mut dist = vec![f64::INFINITY; leaves];
        let mut heap: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
        for l in 0..leaves {
            if t.start[l + 1] > t.start[l] {
                leaf_owner[l] = node_leaf.len() as u32;
                node_leaf.push(l as u32);
                dist[l] = 0.0;
                heap.push(Reverse((0, l as u32)));
            }
        }
        // Multi-source Dijkstra between cell centres (non-negative f64 bits order like f64).
        while let Some(Reverse((d_bits, l))) = heap.pop() {
            let l = l as usize;
            let d = f64::from_bits(d_bits);
            if d > dist[l] {
                continue;
            }
            for &m in t.graph.neighbours(l) {
                let m = m as usize;
                let [x0, y0] = t.centre[l];
                let [x1, y1] = t.centre[m];
                let nd = d + ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
                if nd < dist[m] {
                    dist[m] = nd;
                    leaf_owner[m] = leaf_owner[l];
                    heap.push(Reverse((nd.to_bits(), m as u32)));
                }
            }
        }
        let mut edges = Vec::new();
        for l in 0..leaves {
            let a = leaf_owner[l];
            if a == NONE {
                continue;
            }
            for &m in t.graph.neighbours(l) {
                let b = leaf_owner[m as usize];
                if b != NONE && b != a {
                    edges.push((a, b));
                }
            }
        }
        let graph = Graph::from_edges(node_leaf.len(), edges);
        Self {
            node_leaf,
            leaf_owner,
            graph,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.node_leaf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                (
                    7.40 + (i % 30) as f64 * 0.002,
                    43.72 + (i / 30) as f64 * 0.002,
                )
            })
            .collect()
    }

    #[test]
    fn every_unit_is_in_exactly_one_leaf_and_zones_are_connected() {
        let pts = grid(900);
        let w = vec![1.0; pts.len()];
        let proj = Projection::about(pts.iter().copied());
        let t = Tiling::build(
            &TileInput {
                lonlat: &pts,
                workload: &w,
                labels: &[],
                territories: 5,
            },
            &proj,
        );
        assert!(t.unit_leaf.iter().all(|&l| l != NONE));
        let held: usize = (0..t.cells.len()).map(|l| t.leaf_units(l).len()).sum();
        assert_eq!(held, pts.len());
        // No leaf is heavier than the cap unless it cannot split.
        let cap = pts.len() as f64 / 5.0 * CELL_SHARE * 2.0;
        for l in 0..t.cells.len() {
            let n = t.leaf_units(l).len() as f64;
            assert!(n <= cap.max(1.0) || t.cells[l].resolution() == FINEST);
        }
        let z = Zones::build(&t);
        let mut seen = vec![false; z.len()];
        let mut stack = vec![0usize];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for &j in z.graph.neighbours(i) {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    stack.push(j as usize);
                }
            }
        }
        assert!(seen.iter().all(|&s| s), "the zones graph is connected");
    }

    #[test]
    fn different_labels_never_share_a_leaf() {
        let pts = grid(300);
        let w = vec![1.0; pts.len()];
        let lab: Vec<u32> = (0..pts.len() as u32).map(|i| i % 3).collect();
        let proj = Projection::about(pts.iter().copied());
        let t = Tiling::build(
            &TileInput {
                lonlat: &pts,
                workload: &w,
                labels: &[&lab],
                territories: 1,
            },
            &proj,
        );
        for l in 0..t.cells.len() {
            let us = t.leaf_units(l);
            assert!(us.iter().all(|&u| lab[u as usize] == lab[us[0] as usize]));
        }
    }
}
