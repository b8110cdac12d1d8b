//! Duration matrices from OSRM's table service, chunked to fit osrm-routed's limits.
//!
//! osrm-routed refuses a table whose sources × destinations exceed `--max-table-size`²
//! (`TooBig`) and drops a request line longer than its header limit, which it derives from
//! the same flag: at least `48 × max-table-size + 1024` bytes (8 KiB minimum). A large matrix is
//! therefore cut into blocks that respect both, requested a few at a time, and put back
//! together; see `docs/routing.md`.

use std::fmt::Write as _;
use std::num::NonZeroUsize;

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use serde::Deserialize;

use super::{CoordinateRole, OsrmClient, RoutingError};
use crate::spatial::LonLat;

const ENDPOINT: &str = "table";

/// osrm-routed's own default for `--max-table-size`.
pub const DEFAULT_MAX_TABLE_SIZE: NonZeroUsize = NonZeroUsize::new(100).expect("non-zero");

/// Table chunks in flight at once per `table` call.
const TABLE_CONCURRENCY: usize = 4;

/// Bytes of the request line and headers that are not coordinates (path prefix, options,
/// `Host`, `User-Agent`, ...), kept free under osrm-routed's header limit.
const HEADER_RESERVE_BYTES: usize = 1024;

/// Most bytes one location adds to a request: `-179.123456,-89.123456;` (23) plus its index
/// in `sources` or `destinations` with a separator (at most 6 for the budgets used here).
const BYTES_PER_LOCATION: usize = 30;

/// Travel times and distances by road from each source to each destination.
///
/// `seconds` and `metres` are row-major: `seconds[i * cols + j]` is source `i` to
/// destination `j`, `None` when OSRM found no route. Both always `rows × cols` long; `snap_m`
/// has `cols` entries and `source_snap_m` `rows`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationMatrix {
    pub rows: usize,
    pub cols: usize,
    pub seconds: Vec<Option<f32>>,
    /// Road distance of the fastest route, metres (OSRM's `distances` annotation).
    pub metres: Vec<Option<f32>>,
    /// Per destination: metres from the given point to where OSRM put it on the road
    /// network (a point in the sea or outside the extract snaps far away).
    pub snap_m: Vec<f32>,
    /// Per source, as `snap_m`.
    pub source_snap_m: Vec<f32>,
}

impl DurationMatrix {
    /// A `rows × cols` matrix with every pair unreachable and every snap at 0 m.
    fn unreachable(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            seconds: vec![None; rows * cols],
            metres: vec![None; rows * cols],
            snap_m: vec![0.0; cols],
            source_snap_m: vec![0.0; rows],
        }
    }

    /// Seconds from source `i` to destination `j`; `None` when OSRM found no route.
    ///
    /// # Panics
    /// When `i >= rows` or `j >= cols`, like slice indexing.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        assert!(
            i < self.rows && j < self.cols,
            "({i}, {j}) is outside a {}×{} matrix",
            self.rows,
            self.cols
        );
        self.seconds[i * self.cols + j]
    }

    /// Metres from source `i` to destination `j`; `None` when OSRM found no route.
    ///
    /// # Panics
    /// As [`DurationMatrix::get`].
    pub fn metres(&self, i: usize, j: usize) -> Option<f32> {
        assert!(
            i < self.rows && j < self.cols,
            "({i}, {j}) is outside the matrix"
        );
        self.metres[i * self.cols + j]
    }

    /// Copies a block's answer into its place.
    fn fill(&mut self, answer: BlockAnswer) {
        let Block {
            row0,
            rows,
            col0,
            cols,
        } = answer.block;
        for r in 0..rows {
            let at = (row0 + r) * self.cols + col0;
            let from = r * cols;
            self.seconds[at..at + cols].copy_from_slice(&answer.seconds[from..from + cols]);
            self.metres[at..at + cols].copy_from_slice(&answer.metres[from..from + cols]);
        }
        self.source_snap_m[row0..row0 + rows].copy_from_slice(&answer.source_snap_m);
        self.snap_m[col0..col0 + cols].copy_from_slice(&answer.snap_m);
    }
}

impl OsrmClient {
    /// Driving durations from every source to every destination. Raw (longitude, latitude)
    /// pairs become points with [`parse_points`] first; a matrix beyond osrm-routed's limits
    /// is requested in blocks.
    #[tracing::instrument(
        skip_all,
        fields(sources = sources.len(), destinations = destinations.len(), blocks),
        err
    )]
    pub async fn table(
        &self,
        sources: &[LonLat],
        destinations: &[LonLat],
    ) -> Result<DurationMatrix, RoutingError> {
        let mut matrix = DurationMatrix::unreachable(sources.len(), destinations.len());
        let blocks = plan_blocks(sources.len(), destinations.len(), self.max_table_size.get());
        tracing::Span::current().record("blocks", blocks.len());
        // A few blocks in flight at once; the first error ends the call (the rest are
        // dropped, unsent or cancelled).
        let mut answers = stream::iter(blocks)
            .map(|block| self.table_block(sources, destinations, block))
            .buffer_unordered(TABLE_CONCURRENCY);
        while let Some(answer) = answers.try_next().await? {
            matrix.fill(answer);
        }
        Ok(matrix)
    }

    /// One table request for one block.
    async fn table_block(
        &self,
        sources: &[LonLat],
        destinations: &[LonLat],
        block: Block,
    ) -> Result<BlockAnswer, RoutingError> {
        let path = block_path(
            &sources[block.row0..block.row0 + block.rows],
            &destinations[block.col0..block.col0 + block.cols],
        );
        let body: TableBody = self.get_json(ENDPOINT, &path).await?;
        body.into_answer(block)
    }
}

/// Parses (longitude, latitude) pairs in degrees into points for [`OsrmClient::table`],
/// naming the first bad one (finite and in range, else `InvalidCoordinate`).
pub fn parse_points(
    role: CoordinateRole,
    points: &[(f64, f64)],
) -> Result<Vec<LonLat>, RoutingError> {
    points
        .iter()
        .enumerate()
        .map(|(index, &(lon, lat))| parse_point(role, index, lon, lat))
        .collect()
}

fn parse_point(
    role: CoordinateRole,
    index: usize,
    lon: f64,
    lat: f64,
) -> Result<LonLat, RoutingError> {
    LonLat::new(lon, lat).map_err(|source| RoutingError::InvalidCoordinate {
        role,
        index,
        source,
    })
}

/// A rectangle of the full matrix: sources `row0..row0 + rows`, destinations
/// `col0..col0 + cols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    row0: usize,
    rows: usize,
    col0: usize,
    cols: usize,
}

/// What one block request returned, already checked against the block's shape.
#[derive(Debug)]
struct BlockAnswer {
    block: Block,
    seconds: Vec<Option<f32>>,
    metres: Vec<Option<f32>>,
    source_snap_m: Vec<f32>,
    snap_m: Vec<f32>,
}

/// How many locations (sources + destinations) one request may carry so that its request
/// line stays under the header limit osrm-routed derives from `max_table_size` (the real
/// limit is at least this: osrm-routed takes the largest of all its size flags).
fn locations_per_request(max_table_size: usize) -> usize {
    let header_limit = (48 * max_table_size + 1024).max(8 * 1024);
    ((header_limit - HEADER_RESERVE_BYTES) / BYTES_PER_LOCATION).max(2)
}

/// The block shape for a `rows × cols` matrix: at most `max_table_size²` pairs and at most
/// [`locations_per_request`] locations per block. The shorter side gets what it needs (up to
/// half the locations), the longer side the rest, so one home base against thousands of
/// accounts takes few requests.
fn block_shape(rows: usize, cols: usize, max_table_size: usize) -> (usize, usize) {
    let max_pairs = max_table_size * max_table_size;
    let locations = locations_per_request(max_table_size);
    let (short, long) = (rows.min(cols), rows.max(cols));
    let short_side = short.min(locations / 2).min(max_table_size).max(1);
    let long_side = long
        .min(locations - short_side)
        .min(max_pairs / short_side)
        .max(1);
    if rows <= cols {
        (short_side, long_side)
    } else {
        (long_side, short_side)
    }
}

/// Cuts a `rows × cols` matrix into blocks covering every pair exactly once.
fn plan_blocks(rows: usize, cols: usize, max_table_size: usize) -> Vec<Block> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let (block_rows, block_cols) = block_shape(rows, cols, max_table_size.max(1));
    let mut blocks = Vec::new();
    for row0 in (0..rows).step_by(block_rows) {
        for col0 in (0..cols).step_by(block_cols) {
            blocks.push(Block {
                row0,
                rows: block_rows.min(rows - row0),
                col0,
                cols: block_cols.min(cols - col0),
            });
        }
    }
    blocks
}

/// `table/v1/driving/{sources};{destinations}?sources=0;..&destinations=..`: sources first,
/// then destinations, coordinates to 6 decimals (about 0.1 m). Hints are not asked for: they
/// would triple the answer's size for nothing.
fn block_path(sources: &[LonLat], destinations: &[LonLat]) -> String {
    let locations = sources.len() + destinations.len();
    let mut path = String::with_capacity(64 + locations * BYTES_PER_LOCATION);
    path.push_str("table/v1/driving/");
    for (i, p) in sources.iter().chain(destinations).enumerate() {
        if i > 0 {
            path.push(';');
        }
        // Writing to a String cannot fail.
        let _ = write!(path, "{:.6},{:.6}", p.lon(), p.lat());
    }
    path.push_str("?annotations=duration,distance&generate_hints=false&sources=");
    push_indexes(&mut path, 0..sources.len());
    path.push_str("&destinations=");
    push_indexes(&mut path, sources.len()..locations);
    path
}

fn push_indexes(path: &mut String, indexes: std::ops::Range<usize>) {
    for (n, i) in indexes.enumerate() {
        if n > 0 {
            path.push(';');
        }
        let _ = write!(path, "{i}");
    }
}

/// OSRM's table answer (only what we read).
#[derive(Deserialize)]
struct TableBody {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    durations: Option<Vec<Vec<Option<f64>>>>,
    #[serde(default)]
    distances: Option<Vec<Vec<Option<f64>>>>,
    #[serde(default)]
    sources: Option<Vec<Waypoint>>,
    #[serde(default)]
    destinations: Option<Vec<Waypoint>>,
}

#[derive(Deserialize)]
struct Waypoint {
    /// Metres from the input coordinate to its snapped location.
    distance: f64,
}

impl TableBody {
    fn into_answer(self, block: Block) -> Result<BlockAnswer, RoutingError> {
        if self.code != "Ok" {
            return Err(RoutingError::from_osrm_code(
                ENDPOINT,
                self.code,
                self.message,
            ));
        }
        let unexpected = RoutingError::UnexpectedBody { endpoint: ENDPOINT };
        let (Some(durations), Some(distances), Some(sources), Some(destinations)) = (
            self.durations,
            self.distances,
            self.sources,
            self.destinations,
        ) else {
            return Err(unexpected);
        };
        let shaped = |m: &Vec<Vec<Option<f64>>>| {
            m.len() == block.rows && m.iter().all(|row| row.len() == block.cols)
        };
        if !shaped(&durations)
            || !shaped(&distances)
            || sources.len() != block.rows
            || destinations.len() != block.cols
        {
            return Err(unexpected);
        }
        // f32 keeps a tenth of a second up to about 19 days (a decimetre up to 1,600 km),
        // more than any drive here.
        let flat = |m: Vec<Vec<Option<f64>>>| -> Vec<Option<f32>> {
            m.into_iter()
                .flatten()
                .map(|d| d.map(|v| v as f32))
                .collect()
        };
        let (seconds, metres) = (flat(durations), flat(distances));
        let snap = |w: Vec<Waypoint>| w.into_iter().map(|w| w.distance as f32).collect();
        Ok(BlockAnswer {
            block,
            seconds,
            metres,
            source_snap_m: snap(sources),
            snap_m: snap(destinations),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lon: f64, lat: f64) -> LonLat {
        LonLat::new(lon, lat).expect("valid test point")
    }

    #[test]
    fn blocks_cover_every_pair_exactly_once_within_the_limits() {
        for max in [1, 2, 7, 100, 1000] {
            let locations = locations_per_request(max);
            for (rows, cols) in [
                (1, 1),
                (1, 5000),
                (5000, 1),
                (150, 150),
                (6, 999),
                (333, 17),
            ] {
                let mut seen = vec![0u8; rows * cols];
                for b in plan_blocks(rows, cols, max) {
                    assert!(b.rows >= 1 && b.cols >= 1, "{b:?}");
                    assert!(b.rows * b.cols <= max * max, "max {max}: {b:?}");
                    assert!(b.rows + b.cols <= locations, "max {max}: {b:?}");
                    for i in b.row0..b.row0 + b.rows {
                        for j in b.col0..b.col0 + b.cols {
                            seen[i * cols + j] += 1;
                        }
                    }
                }
                assert!(
                    seen.iter().all(|&n| n == 1),
                    "max {max}, {rows}×{cols}: a pair is missing or requested twice"
                );
            }
        }
    }

    #[test]
    fn a_150_square_at_the_default_limit_takes_four_blocks_of_at_most_100() {
        let blocks = plan_blocks(150, 150, 100);
        let shapes: Vec<(usize, usize)> = blocks.iter().map(|b| (b.rows, b.cols)).collect();
        assert_eq!(shapes, [(100, 100), (100, 50), (50, 100), (50, 50)]);
    }

    #[test]
    fn few_sources_against_many_destinations_take_long_blocks() {
        // 6 home bases, 5,000 accounts: the header budget, not 100 × 100, sets the width.
        let (r, c) = block_shape(6, 5000, 100);
        assert_eq!(r, 6);
        assert_eq!(c, locations_per_request(100) - 6);
        assert_eq!(block_shape(5000, 6, 100), (c, 6));
        // With --max-table-size 1000 the header limit is larger too.
        assert!(block_shape(6, 5000, 1000).1 > 1000);
    }

    #[test]
    fn the_header_budget_follows_osrm_routed_derivation() {
        // max(8 KiB, 48 × 100 + 1024) = 8192 bytes, less the reserve, 30 bytes a location.
        assert_eq!(locations_per_request(100), (8192 - 1024) / 30);
        assert_eq!(locations_per_request(1000), (49_024 - 1024) / 30);
    }

    #[test]
    fn empty_inputs_need_no_request() {
        assert!(plan_blocks(0, 10, 100).is_empty());
        assert!(plan_blocks(10, 0, 100).is_empty());
    }

    #[test]
    fn the_block_path_lists_sources_then_destinations() {
        let path = block_path(
            &[point(7.4246, 43.7384)],
            &[point(7.41, 43.73), point(-179.5, -89.25)],
        );
        assert_eq!(
            path,
            "table/v1/driving/7.424600,43.738400;7.410000,43.730000;-179.500000,-89.250000\
             ?annotations=duration,distance&generate_hints=false&sources=0&destinations=1;2"
        );
    }

    #[test]
    fn a_worst_case_block_fits_the_header_limit() {
        let far = point(-179.123_456, -89.123_456);
        for max in [1, 100, 1000] {
            let (r, c) = block_shape(10_000, 10_000, max);
            let path = block_path(&vec![far; r], &vec![far; c]);
            let limit = (48 * max + 1024).max(8192);
            // 256 bytes leave room for the method, `Host`, `User-Agent` and `Accept`.
            assert!(path.len() + 256 <= limit, "max {max}: {} bytes", path.len());
        }
    }

    #[test]
    fn invalid_coordinates_are_named_by_role_and_index() {
        let err = parse_points(CoordinateRole::Destination, &[(7.4, 43.7), (7.4, f64::NAN)])
            .expect_err("NaN latitude");
        assert!(
            matches!(
                err,
                RoutingError::InvalidCoordinate {
                    role: CoordinateRole::Destination,
                    index: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(parse_points(CoordinateRole::Source, &[(181.0, 0.0)]).is_err());
        assert!(parse_points(CoordinateRole::Source, &[(0.0, -90.5)]).is_err());
        assert!(parse_points(CoordinateRole::Source, &[(f64::INFINITY, 0.0)]).is_err());
    }

    fn body(json: &str) -> TableBody {
        serde_json::from_str(json).expect("test body parses")
    }

    const ONE_BY_TWO: Block = Block {
        row0: 3,
        rows: 1,
        col0: 5,
        cols: 2,
    };

    #[test]
    fn an_ok_answer_keeps_nulls_as_unreachable() {
        let answer = body(
            r#"{"code":"Ok","durations":[[12.5,null]],"distances":[[140.2,null]],
                "sources":[{"distance":1.5,"location":[7.4,43.7]}],
                "destinations":[{"distance":0},{"distance":3749.8}]}"#,
        )
        .into_answer(ONE_BY_TWO)
        .expect("ok");
        assert_eq!(answer.seconds, [Some(12.5), None]);
        assert_eq!(answer.metres, [Some(140.2), None]);
        assert_eq!(answer.source_snap_m, [1.5]);
        assert_eq!(answer.snap_m, [0.0, 3749.8]);
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_unexpected() {
        let err = body(
            r#"{"code":"Ok","durations":[[12.5]],"distances":[[1.0, 2.0]],
                "sources":[{"distance":0}],"destinations":[{"distance":0},{"distance":0}]}"#,
        )
        .into_answer(ONE_BY_TWO)
        .expect_err("one column short");
        assert!(matches!(err, RoutingError::UnexpectedBody { .. }), "{err}");
    }

    #[test]
    fn osrm_error_codes_map_to_their_variants() {
        let err = |json: &str| body(json).into_answer(ONE_BY_TWO).expect_err("an error");
        assert!(matches!(
            err(r#"{"code":"TooBig","message":"Too many table coordinates"}"#),
            RoutingError::TooBig { message, .. } if message == "Too many table coordinates"
        ));
        assert!(matches!(
            err(r#"{"code":"InvalidQuery","message":"Query string malformed"}"#),
            RoutingError::Refused { code, .. } if code == "InvalidQuery"
        ));
        assert!(matches!(
            err(r#"{"code":"InvalidOptions","message":""}"#),
            RoutingError::Refused { message, .. } if message == "no message"
        ));
        assert!(matches!(
            err(r#"{"code":"NoTable","message":"No table found"}"#),
            RoutingError::NoTable { .. }
        ));
        assert!(matches!(
            err(r#"{"code":"NoSegment","message":"Could not find a matching segment"}"#),
            RoutingError::NoSegment { .. }
        ));
        assert!(matches!(
            err(r#"{"code":"NotImplemented"}"#),
            RoutingError::Failed { code, .. } if code == "NotImplemented"
        ));
    }

    #[test]
    fn blocks_are_put_back_in_their_place() {
        let mut m = DurationMatrix::unreachable(2, 3);
        m.fill(BlockAnswer {
            block: Block {
                row0: 1,
                rows: 1,
                col0: 1,
                cols: 2,
            },
            seconds: vec![Some(4.0), None],
            metres: vec![Some(40.0), None],
            source_snap_m: vec![7.0],
            snap_m: vec![8.0, 9.0],
        });
        assert_eq!(m.seconds, [None, None, None, None, Some(4.0), None]);
        assert_eq!(m.get(1, 1), Some(4.0));
        assert_eq!(m.metres(1, 1), Some(40.0));
        assert_eq!(m.metres, [None, None, None, None, Some(40.0), None]);
        assert_eq!(m.source_snap_m, [0.0, 7.0]);
        assert_eq!(m.snap_m, [0.0, 8.0, 9.0]);
    }
}
