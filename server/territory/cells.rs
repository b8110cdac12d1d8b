//! The H3 cells a plan's territories are made of, and the territory shapes built from them
//! (the union of each territory's cells, as a PostGIS MultiPolygon).

use crate::db::Bind;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use h3o::{CellIndex, LatLng, Resolution};
use uuid::Uuid;

use super::TerritoryError;
use crate::spatial::{ACCOUNT_H3_RESOLUTION, H3Cell};

fn cell_at(lon: f64, lat: f64, res: Resolution) -> Option<CellIndex> {
    LatLng::new(lat, lon).ok().map(|p| p.to_cell(res))
}

/// Each account's cell goes to the territory holding most of its workload (then most accounts).
/// `points` are (lon, lat, workload, territory).
pub fn majority_cells(points: &[(f64, f64, f64, usize)]) -> Vec<(H3Cell, usize)> {
    let mut tally: HashMap<H3Cell, HashMap<usize, (f64, u32)>> = HashMap::new();
    for &(lon, lat, workload, territory) in points {
        if let Some(cell) = cell_at(lon, lat, ACCOUNT_H3_RESOLUTION) {
            let e = tally
                .entry(H3Cell::from(cell))
                .or_default()
                .entry(territory)
                .or_default();
            e.0 += workload;
            e.1 += 1;
        }
    }
    let mut cells: Vec<(H3Cell, usize)> = tally
        .into_iter()
        .filter_map(|(cell, by)| {
            by.into_iter()
                .max_by(|a, b| {
                    (a.1.0, a.1.1, std::cmp::Reverse(a.0))
                        .partial_cmp(&(b.1.0, b.1.1, std::cmp::Reverse(b.0)))
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .map(|(t, _)| (cell, t))
        })
        .collect();
    cells.sort_unstable();
    cells
}

/// Replaces a plan's cells; `territories[i]` is the id of territory index `i`.
pub async fn save(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
    cells: &[(H3Cell, usize)],
    territories: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/cells_clear.sql"))
        .bind(plan_id)
        .execute(&mut *tx)
        .await?;
    let ids: Vec<H3Cell> = cells.iter().map(|&(c, _)| c).collect();
    let terr: Vec<Uuid> = cells.iter().map(|&(_, t)| territories[t]).collect();
    sqlx::query(include_str!("sql/cells_insert.sql"))
        .bind_all((plan_id, &ids, &terr))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// After `moved` accounts changed territory by hand: each cell holding one of them goes to the
/// territory with most of the workload there; a moved account outside every cell brings its
/// own cell. Only those cells are looked at (with every account of the plan inside them), so
/// the cost follows the size of the move, not of the plan. Returns the territories that gained
/// or lost a cell (their shapes need rebuilding).
pub async fn follow_moves(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
    moved: &[Uuid],
) -> Result<Vec<Uuid>, TerritoryError> {
    let owner: HashMap<H3Cell, Uuid> = sqlx::query_as(include_str!("sql/cells_of_plan.sql"))
        .bind(plan_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let resolutions: BTreeSet<Resolution> = owner
        .keys()
        .filter_map(|c| c.index())
        .map(CellIndex::resolution)
        .collect();
    let containing = |lon: f64, lat: f64| {
        resolutions
            .iter()
            .filter_map(|&r| cell_at(lon, lat, r))
            .map(H3Cell::from)
            .find(|c| owner.contains_key(c))
            .or_else(|| cell_at(lon, lat, ACCOUNT_H3_RESOLUTION).map(H3Cell::from))
    };
    let moved_at: Vec<(f64, f64)> = sqlx::query_as(include_str!("sql/cells_account_points.sql"))
        .bind(moved)
        .fetch_all(&mut *tx)
        .await?;
    let candidates: BTreeSet<H3Cell> = moved_at
        .into_iter()
        .filter_map(|(lon, lat)| containing(lon, lat))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // Every account of the plan inside the candidate cells: by their bounding boxes through
    // the spatial index, then exactly by cell.
    let boxes: Vec<[f64; 4]> = candidates
        .iter()
        .filter_map(|c| c.index())
        .map(|c| {
            c.boundary().iter().fold(
                [f64::MAX, f64::MAX, f64::MIN, f64::MIN],
                |[x0, y0, x1, y1], v| {
                    [
                        x0.min(v.lng()),
                        y0.min(v.lat()),
                        x1.max(v.lng()),
                        y1.max(v.lat()),
                    ]
                },
            )
        })
        .collect();
    // Padded by about a metre: H3's edges are not quite straight in degrees.
    const PAD: f64 = 1e-5;
    let column = |i: usize| {
        let pad = if i < 2 { -PAD } else { PAD };
        boxes.iter().map(|b| b[i] + pad).collect::<Vec<f64>>()
    };
    let accounts: Vec<(f64, f64, f64, Uuid)> =
        sqlx::query_as(include_str!("sql/cells_assigned_in_boxes.sql"))
            .bind_all((plan_id, column(0), column(1), column(2), column(3)))
            .fetch_all(&mut *tx)
            .await?;
    let mut tally: HashMap<H3Cell, HashMap<Uuid, f64>> = HashMap::new();
    for (lon, lat, workload, territory) in accounts {
        if let Some(cell) = containing(lon, lat).filter(|c| candidates.contains(c)) {
            // A small constant keeps zero-workload accounts counted.
            *tally.entry(cell).or_default().entry(territory).or_default() += workload + 1e-6;
        }
    }
    let mut changed_cells = Vec::new();
    let mut changed_to = Vec::new();
    let mut touched = BTreeSet::new();
    for (cell, by) in tally {
        let best = by
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(t, _)| t);
        if let Some(best) = best
            && owner.get(&cell) != Some(&best)
        {
            touched.insert(best);
            touched.extend(owner.get(&cell).copied());
            changed_cells.push(cell);
            changed_to.push(best);
        }
    }
    if !changed_cells.is_empty() {
        sqlx::query(include_str!("sql/cells_upsert.sql"))
            .bind_all((plan_id, &changed_cells, &changed_to))
            .execute(&mut *tx)
            .await?;
    }
    Ok(touched.into_iter().collect())
}

/// A cell's outline as WKT (lon lat order, closed).
fn cell_wkt(cell: CellIndex) -> String {
    let boundary = cell.boundary();
    let mut wkt = String::from("POLYGON((");
    let mut first = None;
    for (i, v) in boundary.iter().enumerate() {
        if i > 0 {
            wkt.push(',');
        }
        let _ = write!(wkt, "{} {}", v.lng(), v.lat());
        first.get_or_insert((v.lng(), v.lat()));
    }
    if let Some((lon, lat)) = first {
        let _ = write!(wkt, ",{lon} {lat}");
    }
    wkt.push_str("))");
    wkt
}

/// For each cell, the finer cells of other territories that overlap its outline. Cells of
/// mixed resolutions do not tile the plane exactly (an H3 parent is not the union of its
/// children): a coarse cell's outline reaches a little into its finer neighbours. Those are
/// descendants of the cell's same-resolution neighbours (or of the cell itself), so they are
/// found through the hierarchy, without geometry. `cells` are (cell, territory).
fn finer_foreign_overlaps<T: Copy + PartialEq>(cells: &[(CellIndex, T)]) -> Vec<Vec<usize>> {
    // Only ancestors at resolutions some cell has are ever looked up.
    let present: BTreeSet<Resolution> = cells.iter().map(|(c, _)| c.resolution()).collect();
    let mut under: HashMap<CellIndex, Vec<usize>> = HashMap::new();
    for (i, &(cell, _)) in cells.iter().enumerate() {
        let res = cell.resolution();
        for &r in present.range(..res) {
            if let Some(ancestor) = cell.parent(r) {
                under.entry(ancestor).or_default().push(i);
            }
        }
    }
    cells
        .iter()
        .map(|&(cell, territory)| {
            let mut found: Vec<usize> = cell
                .grid_disk::<Vec<_>>(1)
                .into_iter()
                .filter_map(|n| under.get(&n))
                .flatten()
                .copied()
                .filter(|&j| cells[j].1 != territory)
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        })
        .collect()
}

/// Rebuilds the shapes of the plan's territories from their cells: all of them, or `only`
/// those given. Where outlines of different territories overlap, the finer cell keeps the
/// overlap (see [`finer_foreign_overlaps`]); a partial rebuild also yields to the shapes of
/// the territories it leaves as they are. So shapes never overlap; thin gaps can remain where a
/// coarse cell's outline falls short of its finer neighbours.
pub async fn rebuild_shapes(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
    only: Option<&[Uuid]>,
) -> Result<(), sqlx::Error> {
    // PostGIS's set-returning functions are estimated at 1,000 rows each, so the sliver
    // queries look costly enough to be JIT-compiled: 0.3-0.4 s of compiling for a few
    // milliseconds of work on the demo plan. The caller's transaction does without.
    sqlx::query(include_str!("sql/jit_off.sql"))
        .execute(&mut *tx)
        .await?;
    let rows: Vec<(H3Cell, Uuid)> = sqlx::query_as(include_str!("sql/cells_of_territories.sql"))
        .bind_all((plan_id, only))
        .fetch_all(&mut *tx)
        .await?;
    let cells: Vec<(CellIndex, Uuid)> = rows
        .into_iter()
        .filter_map(|(c, t)| c.index().map(|c| (c, t)))
        .collect();
    let overlaps = finer_foreign_overlaps(&cells);
    let territories: Vec<Uuid> = cells.iter().map(|&(_, t)| t).collect();
    let outlines: Vec<String> = cells.iter().map(|&(c, _)| cell_wkt(c)).collect();
    let clips: Vec<Option<String>> = overlaps
        .iter()
        .map(|finer| {
            (!finer.is_empty()).then(|| {
                let parts: Vec<&str> = finer.iter().map(|&j| outlines[j].as_str()).collect();
                format!("GEOMETRYCOLLECTION({})", parts.join(","))
            })
        })
        .collect();
    sqlx::query(include_str!("sql/cells_set_shapes.sql"))
        .bind_all((plan_id, &territories, &outlines, only, &clips))
        .execute(&mut *tx)
        .await?;
    if let Some(only) = only {
        // The territories left as they are keep what their shapes hold.
        sqlx::query(include_str!("sql/cells_cut_overlaps.sql"))
            .bind_all((plan_id, only))
            .execute(&mut *tx)
            .await?;
    }
    // A fill can close a new hole: where a territory's outline was open only through slivers
    // that this pass filled, the gap behind them becomes a hole of it. Passes go on while a
    // small hole is left partly uncovered (one more is enough in practice).
    for _ in 0..FILL_PASSES {
        fill_slivers(&mut *tx, plan_id, only).await?;
        if !slivers_left(&mut *tx, plan_id, only).await? {
            break;
        }
    }
    Ok(())
}

/// Most passes of [`fill_slivers`] over one set of shapes.
const FILL_PASSES: usize = 3;

/// Whether some hole of the plan's shapes (of `only` those territories) smaller than
/// [`SLIVER_M2`] is left uncovered by more than a tenth of a square metre.
async fn slivers_left(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
    only: Option<&[Uuid]>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/cells_slivers_left.sql"))
        .bind_all((plan_id, SLIVER_M2, only))
        .fetch_one(&mut *tx)
        .await
}

/// Largest hole (m²) in a territory's shape that may be a sliver rather than land of another
/// territory: where a coarse H3 cell meets finer ones of the same territory, the outlines do
/// not meet exactly (a parent is not the union of its children), leaving thin holes of up to
/// about a thousand square metres in the union.
const SLIVER_M2: f64 = 5_000.0;

/// Area (square degrees, about a thousandth of a square metre) below which a hole is a ring of
/// no area. `st_makevalid`, mending a snapped union, can leave such a ring between a vertex on
/// the grid and a computed one a fraction of a millimetre away: a hole no territory covers,
/// which the shapes drop.
const NO_AREA_DEG2: f64 = 1e-13;

/// Fills the holes of a plan's shapes that are smaller than [`SLIVER_M2`], except where another
/// territory of the plan covers them: each such hole is filled with what is left of it after
/// the other territories' shapes are taken away. So a sliver goes, and a small enclave of
/// another territory (a locked account's cell, say) stays a hole of exactly its own shape,
/// even when slivers surround it. Where holes of two territories share a sliver (one's
/// enclave inside the other's hole, with a hole of its own), the smaller hole takes it: the
/// enclave's, so the sliver does not become an island of the surrounding territory. The
/// result is snapped to the cells' 1e-9° grid, which drops the rings of no area that the
/// union can leave where a fill meets the shape at computed points (made valid again if the
/// snapping broke it; the rings of no area that mending leaves are dropped, see
/// [`NO_AREA_DEG2`]). (Keeping
/// or filling a hole whole, by testing one point inside it, filled such a hole over the
/// enclave when the point fell in a sliver, and the two shapes overlapped.)
async fn fill_slivers(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
    only: Option<&[Uuid]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/cells_fill_slivers.sql"))
        .bind_all((plan_id, SLIVER_M2, only, NO_AREA_DEG2))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_goes_to_the_territory_with_most_of_its_workload() {
        // Three accounts a few metres apart (one cell): two light ones in territory 0, one
        // heavy one in territory 1.
        let points = [
            (7.42, 43.73, 10.0, 0),
            (7.42001, 43.73001, 10.0, 0),
            (7.42002, 43.73, 50.0, 1),
            (7.50, 43.80, 1.0, 0),
        ];
        let cells = majority_cells(&points);
        assert_eq!(cells.len(), 2);
        let heavy = H3Cell::from(cell_at(7.42, 43.73, ACCOUNT_H3_RESOLUTION).expect("cell"));
        assert!(cells.contains(&(heavy, 1)), "{cells:?}");
    }

    #[test]
    fn a_coarse_cell_yields_to_the_finer_cells_of_other_territories_next_to_it() {
        let coarse = cell_at(7.42, 43.73, ACCOUNT_H3_RESOLUTION).expect("cell");
        let ring: Vec<CellIndex> = coarse
            .grid_disk::<Vec<_>>(1)
            .into_iter()
            .filter(|&n| n != coarse)
            .collect();
        // Territory 0: the coarse cell and a neighbour split into children; territory 1:
        // another neighbour split into children; a cell far away, also of territory 1.
        let mut cells = vec![(coarse, 0u8)];
        let next = Resolution::Ten;
        cells.extend(ring[0].children(next).map(|c| (c, 0)));
        cells.extend(ring[1].children(next).map(|c| (c, 1)));
        let far = cell_at(7.50, 43.80, next).expect("cell");
        cells.push((far, 1));
        let overlaps = finer_foreign_overlaps(&cells);
        let foreign: Vec<CellIndex> = overlaps[0].iter().map(|&j| cells[j].0).collect();
        let mut expected: Vec<CellIndex> = ring[1].children(next).collect();
        expected.sort_unstable();
        let mut got = foreign.clone();
        got.sort_unstable();
        assert_eq!(
            got, expected,
            "the other territory's finer cells next door, and no more"
        );
        // Finer cells never yield to a coarser one, nor cells of the same resolution.
        assert!(overlaps[1..].iter().all(Vec::is_empty), "{overlaps:?}");
    }

    #[test]
    fn a_cell_outline_is_a_closed_hexagon_in_lon_lat_order() {
        let cell = cell_at(7.42, 43.73, ACCOUNT_H3_RESOLUTION).expect("cell");
        let wkt = cell_wkt(cell);
        let inner = wkt.trim_start_matches("POLYGON((").trim_end_matches("))");
        let points: Vec<&str> = inner.split(',').collect();
        assert_eq!(points.len(), 7, "{wkt}");
        assert_eq!(points.first(), points.last());
        let lon: f64 = points[0]
            .split(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("lon");
        assert!((lon - 7.42).abs() < 0.01, "longitude first: {wkt}");
    }
}
