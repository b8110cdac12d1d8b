//! Writes a build's features into the geocoder tables, replacing the previous index in one
//! transaction (queries keep seeing the old index until it commits), and records the build.

use crate::db::Bind;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use super::build::Features;
use crate::spatial::LonLat;

/// Rows per `insert ... select from unnest(...)` statement.
const BATCH_ROWS: usize = 5_000;

/// The file a build was made from.
#[derive(Debug, Clone)]
pub struct Source {
    /// As given on the command line.
    pub file: String,
    pub sha256: String,
}

impl Source {
    /// Hashes the file (streamed, so large extracts do not need to fit in memory twice).
    pub fn of_file(path: &Path) -> anyhow::Result<Self> {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0_u8; 1 << 16];
        loop {
            let n = file
                .read(&mut buf)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let mut sha256 = String::with_capacity(64);
        for b in &hasher.finalize() {
            let _ = write!(sha256, "{b:02x}");
        }
        Ok(Self {
            file: path.display().to_string(),
            sha256,
        })
    }
}

/// What a build wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSummary {
    pub build_id: i64,
    pub streets: i32,
    pub addresses: i32,
    pub interpolations: i32,
    pub postcodes: i32,
    pub places: i32,
    pub duration_ms: i64,
}

/// Progress of a load, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// The total of [`Progress::Rows`] to expect (raw rows written plus one per linking step).
    Total(u64),
    /// Another step started.
    Stage(&'static str),
    /// This many more rows are done.
    Rows(u64),
}

/// The index's tables.
const TABLES: &[&str] = &[
    "geocoder_streets",
    "geocoder_street_names",
    "geocoder_common_words",
    "geocoder_addresses",
    "geocoder_interpolations",
    "geocoder_postcodes",
    "geocoder_places",
];

/// Linking steps counted as one unit each in [`Progress`].
const LINK_UNITS: u64 = 1;

/// Replaces the index with `features` in one transaction and records the build.
pub async fn load(
    pool: &PgPool,
    source: &Source,
    features: &Features,
    started: Instant,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<BuildSummary> {
    let total = features.streets.len()
        + features.addresses.len()
        + features.interpolations.len()
        + features.postcode_areas.len()
        + features.places.len();
    progress(Progress::Total(total as u64 + LINK_UNITS));

    let mut tx = pool
        .begin()
        .await
        .context("starting the build transaction")?;
    progress(Progress::Stage("replacing the previous index"));
    sqlx::raw_sql(include_str!("sql/clear_index.sql"))
        .execute(&mut *tx)
        .await
        .context("clearing the previous geocoder index")?;

    progress(Progress::Stage("writing street segments"));
    for chunk in features.streets.chunks(BATCH_ROWS) {
        insert_segments(&mut tx, chunk).await?;
        progress(Progress::Rows(chunk.len() as u64));
    }
    progress(Progress::Stage("writing addresses"));
    for chunk in features.addresses.chunks(BATCH_ROWS) {
        insert_addresses(&mut tx, chunk).await?;
        progress(Progress::Rows(chunk.len() as u64));
    }
    progress(Progress::Stage("writing interpolations"));
    for chunk in features.interpolations.chunks(BATCH_ROWS) {
        insert_interpolations(&mut tx, chunk).await?;
        progress(Progress::Rows(chunk.len() as u64));
    }
    progress(Progress::Stage("writing places and postal areas"));
    for chunk in features.places.chunks(BATCH_ROWS) {
        insert_places(&mut tx, chunk).await?;
        progress(Progress::Rows(chunk.len() as u64));
    }
    for chunk in features.postcode_areas.chunks(BATCH_ROWS) {
        insert_postal_areas(&mut tx, chunk).await?;
        progress(Progress::Rows(chunk.len() as u64));
    }

    progress(Progress::Stage("linking addresses to streets"));
    sqlx::raw_sql(include_str!("sql/link.sql"))
        .execute(&mut *tx)
        .await
        .context("linking addresses, streets, postcodes and places")?;
    progress(Progress::Rows(LINK_UNITS));

    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let row: (i64, i32, i32, i32, i32, i32) = sqlx::query_as(include_str!("sql/record_build.sql"))
        .bind_all((&source.file, &source.sha256, duration_ms))
        .fetch_one(&mut *tx)
        .await
        .context("recording the geocoder build")?;
    tx.commit().await.context("committing the geocoder build")?;

    // Outside the transaction (VACUUM cannot run in one): drop the previous build's dead rows
    // and give the planner fresh statistics.
    progress(Progress::Stage("vacuuming"));
    for table in TABLES {
        sqlx::raw_sql(&format!("vacuum (analyze) {table}"))
            .execute(pool)
            .await
            .with_context(|| format!("vacuuming {table}"))?;
    }

    Ok(BuildSummary {
        build_id: row.0,
        streets: row.1,
        addresses: row.2,
        interpolations: row.3,
        postcodes: row.4,
        places: row.5,
        duration_ms,
    })
}

fn lons(points: impl Iterator<Item = LonLat>) -> Vec<f64> {
    points.map(LonLat::lon).collect()
}

fn lats(points: impl Iterator<Item = LonLat>) -> Vec<f64> {
    points.map(LonLat::lat).collect()
}

/// `x y, x y, ...` with shortest round-trip decimals.
fn coords_wkt(out: &mut String, line: &[LonLat]) {
    for (i, p) in line.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}{} {}", p.lon(), p.lat());
    }
}

fn linestring_wkt(line: &[LonLat]) -> String {
    let mut s = String::from("LINESTRING(");
    coords_wkt(&mut s, line);
    s.push(')');
    s
}

/// Rings as a MULTILINESTRING, which `ST_BuildArea` turns into polygons with their holes.
fn rings_wkt(rings: &[Vec<LonLat>]) -> Option<String> {
    if rings.is_empty() {
        return None;
    }
    let mut s = String::from("MULTILINESTRING(");
    for (i, ring) in rings.iter().enumerate() {
        s.push_str(if i == 0 { "(" } else { ", (" });
        coords_wkt(&mut s, ring);
        s.push(')');
    }
    s.push(')');
    Some(s)
}

async fn insert_segments(
    conn: &mut PgConnection,
    chunk: &[super::build::StreetSegment],
) -> anyhow::Result<()> {
    let names: Vec<&str> = chunk.iter().map(|s| s.name.as_str()).collect();
    let norms: Vec<&str> = chunk.iter().map(|s| s.name_norm.as_str()).collect();
    let lines: Vec<String> = chunk.iter().map(|s| linestring_wkt(&s.line)).collect();
    sqlx::query(include_str!("sql/insert_build_segments.sql"))
        .bind_all((names, norms, lines))
        .execute(conn)
        .await
        .context("writing street segments")?;
    Ok(())
}

async fn insert_addresses(
    conn: &mut PgConnection,
    chunk: &[super::build::AddressPoint],
) -> anyhow::Result<()> {
    let pick = |f: fn(&super::build::AddressPoint) -> Option<&str>| -> Vec<Option<&str>> {
        chunk.iter().map(f).collect()
    };
    sqlx::query(include_str!("sql/insert_addresses.sql"))
        .bind_all((
            pick(|a| Some(a.osm_ref.as_str())),
            pick(|a| Some(a.number.raw.as_str())),
            pick(|a| Some(a.number.norm.as_str())),
            chunk.iter().map(|a| a.number.number).collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|a| a.number.number_end)
                .collect::<Vec<_>>(),
            pick(|a| a.street.as_ref().map(|s| s.0.as_str())),
            pick(|a| a.street.as_ref().map(|s| s.1.as_str())),
            pick(|a| a.postcode.as_ref().map(|s| s.0.as_str())),
            pick(|a| a.postcode.as_ref().map(|s| s.1.as_str())),
            pick(|a| a.city.as_ref().map(|s| s.0.as_str())),
            pick(|a| a.city.as_ref().map(|s| s.1.as_str())),
            lons(chunk.iter().map(|a| a.at)),
            lats(chunk.iter().map(|a| a.at)),
        ))
        .execute(conn)
        .await
        .context("writing addresses")?;
    Ok(())
}

async fn insert_interpolations(
    conn: &mut PgConnection,
    chunk: &[super::build::InterpolationSection],
) -> anyhow::Result<()> {
    sqlx::query(include_str!("sql/insert_interpolations.sql"))
        .bind_all((
            chunk.iter().map(|i| i.osm_ref.as_str()).collect::<Vec<_>>(),
            chunk.iter().map(|i| i.street.as_str()).collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|i| i.street_norm.as_str())
                .collect::<Vec<_>>(),
            chunk.iter().map(|i| i.start_number).collect::<Vec<_>>(),
            chunk.iter().map(|i| i.end_number).collect::<Vec<_>>(),
            chunk.iter().map(|i| i.step).collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|i| i.postcode_norm.as_deref())
                .collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|i| linestring_wkt(&i.line))
                .collect::<Vec<_>>(),
        ))
        .execute(conn)
        .await
        .context("writing interpolation lines")?;
    Ok(())
}

async fn insert_places(
    conn: &mut PgConnection,
    chunk: &[super::build::Place],
) -> anyhow::Result<()> {
    sqlx::query(include_str!("sql/insert_places.sql"))
        .bind_all((
            chunk.iter().map(|p| p.osm_ref.as_str()).collect::<Vec<_>>(),
            chunk.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|p| p.name_norm.as_str())
                .collect::<Vec<_>>(),
            chunk.iter().map(|p| p.kind.as_str()).collect::<Vec<_>>(),
            chunk.iter().map(|p| p.rank).collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|p| p.at.map(LonLat::lon))
                .collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|p| p.at.map(LonLat::lat))
                .collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|p| rings_wkt(&p.rings))
                .collect::<Vec<_>>(),
        ))
        .execute(conn)
        .await
        .context("writing places")?;
    Ok(())
}

async fn insert_postal_areas(
    conn: &mut PgConnection,
    chunk: &[super::build::PostcodeArea],
) -> anyhow::Result<()> {
    sqlx::query(include_str!("sql/insert_build_postal_areas.sql"))
        .bind_all((
            chunk
                .iter()
                .map(|a| a.postcode.as_str())
                .collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|a| a.postcode_norm.as_str())
                .collect::<Vec<_>>(),
            chunk
                .iter()
                .map(|a| rings_wkt(&a.rings))
                .collect::<Vec<_>>(),
        ))
        .execute(conn)
        .await
        .context("writing postal areas")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::spatial::test_point as ll;

    #[test]
    fn lines_and_rings_are_written_as_wkt_longitude_first() {
        assert_eq!(
            linestring_wkt(&[ll(7.5, 43.25), ll(7.25, 43.5)]),
            "LINESTRING(7.5 43.25, 7.25 43.5)"
        );
        let ring = vec![ll(0.0, 0.0), ll(1.0, 0.0), ll(1.0, 1.0), ll(0.0, 0.0)];
        assert_eq!(
            rings_wkt(&[ring.clone(), ring]).as_deref(),
            Some("MULTILINESTRING((0 0, 1 0, 1 1, 0 0), (0 0, 1 0, 1 1, 0 0))")
        );
        assert_eq!(rings_wkt(&[]), None);
    }
}
