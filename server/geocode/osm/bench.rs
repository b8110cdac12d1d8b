//! The geocoder's accuracy benchmark: the index's own addresses asked for in realistic
//! spellings (scored within 10 m), then asked for again with each address point hidden to
//! measure the interpolation and street fallbacks, plus the throughput of the whole run.

use crate::db::Bind;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::PgPool;

use super::{OsmGeocoder, norm, search};
use crate::geocode::{Address, GeocodeResult, Precision};
use crate::spatial::LonLat;

/// A result this close to one of the address's points counts as found.
pub const FOUND_WITHIN_M: f64 = 10.0;

/// How a benchmark query spells an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Spelling {
    /// Number, street, postcode and city as tagged.
    AsWritten,
    /// Street types and "Saint" abbreviated ("Bd", "Av.", "Str.", "St").
    Abbreviated,
    /// Without the postcode.
    NoPostcode,
    /// All upper or all lower case.
    Case,
    /// One slip in the street name: two letters swapped, one dropped, doubled or changed.
    Typo,
}

impl Spelling {
    pub const ALL: [Spelling; 5] = [
        Self::AsWritten,
        Self::Abbreviated,
        Self::NoPostcode,
        Self::Case,
        Self::Typo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AsWritten => "as written",
            Self::Abbreviated => "abbreviated street type",
            Self::NoPostcode => "no postcode",
            Self::Case => "upper/lower case",
            Self::Typo => "one typo in the street",
        }
    }
}

/// An address of the index as OSM spells it, with every point that carries it.
#[derive(Debug, Clone)]
pub struct Truth {
    pub street: String,
    pub street_norm: String,
    pub housenumber: String,
    pub housenumber_norm: String,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub points: Vec<LonLat>,
}

impl Truth {
    /// Metres from `at` to the nearest of the address's points.
    pub fn error_m(&self, at: LonLat) -> f64 {
        self.points
            .iter()
            .map(|p| p.distance_m(at))
            .fold(f64::INFINITY, f64::min)
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Write "Street 12" (Finland, Germany, ...) instead of "12 Street" (France, UK, ...).
    pub number_after_street: bool,
    /// Queries in flight (one pool connection each).
    pub concurrency: usize,
    /// Ask for at most this many addresses (evenly spread); all when `None`.
    pub sample: Option<usize>,
    /// Measure throughput by asking the queries again for this long (0: time the accuracy
    /// pass instead).
    pub throughput_s: f64,
    pub seed: u64,
}

/// Results for one spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpellingStats {
    pub asked: usize,
    pub within: usize,
    pub not_found: usize,
}

/// Errors with the address point hidden.
#[derive(Debug, Clone, Default)]
pub struct HiddenStats {
    /// Sorted; a query that found nothing counts as infinitely far.
    pub errors_m: Vec<f64>,
    pub by_precision: BTreeMap<&'static str, usize>,
}

impl HiddenStats {
    /// Nearest-rank percentile, `p` in 0..=1.
    pub fn percentile_m(&self, p: f64) -> Option<f64> {
        let n = self.errors_m.len();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        Some(self.errors_m[rank - 1])
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    pub addresses: usize,
    pub address_points: usize,
    /// Addresses left out because their house number is a note, not a number.
    pub implausible: usize,
    pub spellings: BTreeMap<Spelling, SpellingStats>,
    pub hidden: HiddenStats,
    pub queries: usize,
    pub elapsed_s: f64,
    pub concurrency: usize,
    /// One line per query answered farther than [`FOUND_WITHIN_M`] or not at all.
    pub misses: Vec<String>,
}

impl BenchReport {
    pub fn total(&self) -> SpellingStats {
        self.spellings
            .values()
            .fold(SpellingStats::default(), |acc, s| SpellingStats {
                asked: acc.asked + s.asked,
                within: acc.within + s.within,
                not_found: acc.not_found + s.not_found,
            })
    }

    pub fn queries_per_s(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.queries as f64 / self.elapsed_s
        } else {
            0.0
        }
    }

    /// The figures as Markdown, for the terminal and `docs/benchmarks.md`.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} addresses ({} address points with their street tagged; {} more left out for a \
             house number that is a note, not a number)\n",
            self.addresses, self.address_points, self.implausible
        );
        let _ = writeln!(
            s,
            "| spelling | asked | within {FOUND_WITHIN_M} m | share | not found |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        let row = |s: &mut String, name: &str, st: &SpellingStats| {
            let share = if st.asked == 0 {
                0.0
            } else {
                100.0 * st.within as f64 / st.asked as f64
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {share:.2} % | {} |",
                st.asked, st.within, st.not_found
            );
        };
        for (spelling, st) in &self.spellings {
            row(&mut s, spelling.as_str(), st);
        }
        row(&mut s, "**all**", &self.total());
        let fmt = |v: Option<f64>| match v {
            Some(v) if v.is_finite() => format!("{v:.1} m"),
            Some(_) => "not found".to_owned(),
            None => "-".to_owned(),
        };
        let precisions = self
            .hidden
            .by_precision
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "\nWith the address point hidden ({} addresses): median error {}, p90 {}; answered as {}.",
            self.hidden.errors_m.len(),
            fmt(self.hidden.percentile_m(0.5)),
            fmt(self.hidden.percentile_m(0.9)),
            precisions
        );
        let _ = writeln!(
            s,
            "\nThroughput: {} queries in {:.2} s = {:.0} addresses/s ({} in flight).",
            self.queries,
            self.elapsed_s,
            self.queries_per_s(),
            self.concurrency
        );
        s
    }
}

/// Word abbreviations a CRM user types, as `(full word, abbreviation)`; matched whole-word
/// and case-insensitively. Independent of the normalizer's own table on purpose.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("avenue", "Av."),
    ("boulevard", "Bd"),
    ("place", "Pl."),
    ("chemin", "Ch."),
    ("route", "Rte"),
    ("impasse", "Imp."),
    ("allée", "All."),
    ("square", "Sq."),
    ("faubourg", "Fbg"),
    ("saint", "St"),
    ("sainte", "Ste"),
    ("street", "St"),
    ("road", "Rd"),
    ("drive", "Dr"),
    ("lane", "Ln"),
    ("court", "Ct"),
    ("terrace", "Tce"),
    ("crescent", "Cres"),
    ("highway", "Hwy"),
    ("piazza", "P.za"),
    ("corso", "C.so"),
    ("viale", "V.le"),
    ("avenida", "Avda."),
    ("plaza", "Pza."),
    ("straße", "Str."),
    ("strasse", "Str."),
];

/// Word endings abbreviated inside compounds ("Hauptstraße" -> "Hauptstr.").
const SUFFIX_ABBREVIATIONS: &[(&str, &str)] =
    &[("straße", "str."), ("strasse", "str."), ("straat", "str.")];

/// The street with every known street type abbreviated, or `None` if it has none.
pub fn abbreviate(street: &str) -> Option<String> {
    let mut out = String::with_capacity(street.len());
    let mut changed = false;
    let mut word = String::new();
    let mut flush = |word: &mut String, out: &mut String| {
        let lower = word.to_lowercase();
        if let Some((_, abbr)) = ABBREVIATIONS.iter().find(|(full, _)| *full == lower) {
            out.push_str(abbr);
            changed = true;
        } else if let Some((full, abbr)) = SUFFIX_ABBREVIATIONS
            .iter()
            .find(|(full, _)| lower.ends_with(full) && lower.len() > full.len())
        {
            let keep = word.chars().count() - full.chars().count();
            out.extend(word.chars().take(keep));
            out.push_str(abbr);
            changed = true;
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in street.chars() {
        if c.is_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    changed.then_some(out)
}

/// The street with one slip in its longest word (first and last letters kept), or `None`
/// when no word has five letters.
pub fn typo(street: &str, rng: &mut impl Rng) -> Option<String> {
    let words: Vec<&str> = street.split(' ').collect();
    let (index, longest) = words
        .iter()
        .enumerate()
        .filter(|(_, w)| w.chars().filter(|c| c.is_alphabetic()).count() >= 5)
        .max_by_key(|(i, w)| (w.chars().count(), std::cmp::Reverse(*i)))?;
    let chars: Vec<char> = longest.chars().collect();
    let n = chars.len();
    for _ in 0..8 {
        let mut c = chars.clone();
        // Inner positions only: 1..n-1.
        let i = rng.random_range(1..n - 2);
        if !(chars[i].is_alphabetic() && chars[i + 1].is_alphabetic()) {
            continue;
        }
        match rng.random_range(0..4) {
            0 => c.swap(i, i + 1),
            1 => {
                c.remove(i);
            }
            2 => c.insert(i, c[i]),
            _ => {
                const VOWELS: &[char] = &['a', 'e', 'i', 'o', 'u'];
                c[i] = VOWELS[rng.random_range(0..VOWELS.len())];
            }
        }
        if c != chars && c.iter().all(|ch| !ch.is_whitespace()) {
            let mut w = words.clone();
            let slipped: String = c.into_iter().collect();
            w[index] = &slipped;
            return Some(w.join(" "));
        }
    }
    None
}

/// The query for `truth` spelt as `spelling`, or `None` when the spelling does not apply
/// (nothing to abbreviate, no postcode to drop, no word long enough for a typo).
pub fn spell(
    truth: &Truth,
    spelling: Spelling,
    number_after_street: bool,
    rng: &mut impl Rng,
) -> Option<Address> {
    let line = |street: &str| {
        if number_after_street {
            format!("{street} {}", truth.housenumber)
        } else {
            format!("{} {street}", truth.housenumber)
        }
    };
    let mut q = Address {
        line: Some(line(&truth.street)),
        postal_code: truth.postcode.clone(),
        city: truth.city.clone(),
        ..Address::default()
    };
    match spelling {
        Spelling::AsWritten => {}
        Spelling::Abbreviated => q.line = Some(line(&abbreviate(&truth.street)?)),
        Spelling::NoPostcode => {
            q.postal_code.take()?;
        }
        Spelling::Case => {
            let upper = rng.random_bool(0.5);
            let change = |s: String| {
                if upper {
                    s.to_uppercase()
                } else {
                    s.to_lowercase()
                }
            };
            q.line = q.line.map(change);
            q.city = q.city.map(change);
        }
        Spelling::Typo => q.line = Some(line(&typo(&truth.street, rng)?)),
    }
    Some(q)
}

/// Whether an `addr:housenumber` value is a number people write ("12", "12b", "12-14",
/// "11 B 9"), not a floor or a note mapped into the tag ("5. krs. / Floor 5", "sisäpiha").
pub fn plausible_house_number(raw: &str) -> bool {
    raw.starts_with(|c: char| c.is_ascii_digit())
        && raw.chars().count() <= 10
        && raw.split_whitespace().count() <= 3
        && raw
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '/'))
}

/// The index's addresses whose street was tagged: one per street and number, with every
/// point that carries it (a building and the shops inside it) and its most common spelling,
/// postcode and city.
pub async fn truths(pool: &PgPool) -> anyhow::Result<(Vec<Truth>, usize)> {
    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Vec<f64>,
        Vec<f64>,
    );
    let rows: Vec<Row> = sqlx::query_as(include_str!("sql/bench_sample_addresses.sql"))
        .fetch_all(pool)
        .await
        .context("reading the index's addresses")?;
    let mut points_total = 0;
    let truths = rows
        .into_iter()
        .map(
            |(street, street_norm, hn, hn_norm, postcode, city, xs, ys)| {
                let points = xs
                    .into_iter()
                    .zip(ys)
                    .filter_map(|(x, y)| LonLat::new(x, y).ok())
                    .collect::<Vec<_>>();
                points_total += points.len();
                Truth {
                    street,
                    street_norm,
                    housenumber: hn,
                    housenumber_norm: hn_norm,
                    postcode,
                    city,
                    points,
                }
            },
        )
        .collect();
    Ok((truths, points_total))
}

/// Runs the benchmark against the index in `pool` (which should allow
/// `options.concurrency` connections).
pub async fn run(pool: &PgPool, options: &BenchOptions) -> anyhow::Result<BenchReport> {
    let (all, address_points) = truths(pool).await?;
    let (truths, implausible): (Vec<Truth>, Vec<Truth>) = all
        .into_iter()
        .partition(|t| plausible_house_number(&t.housenumber));
    // An even spread of at most `sample` addresses.
    let step = options
        .sample
        .filter(|n| *n > 0)
        .map_or(1, |n| truths.len().div_ceil(n).max(1));
    let truths: Vec<Truth> = truths.into_iter().step_by(step).collect();
    anyhow::ensure!(
        !truths.is_empty(),
        "the geocoder index holds no addresses; run `terrane geocoder build <pbf>` first"
    );
    let truths = Arc::new(truths);
    let concurrency = options.concurrency.max(1);

    let mut asks: Vec<(Spelling, usize, Address)> = Vec::new();
    for (i, t) in truths.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ (i as u64));
        for spelling in Spelling::ALL {
            if let Some(q) = spell(t, spelling, options.number_after_street, &mut rng) {
                asks.push((spelling, i, q));
            }
        }
    }
    let asks = Arc::new(asks);

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let asks = asks.clone();
        let geocoder = OsmGeocoder::new(pool.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            for (i, (_, _, q)) in asks.iter().enumerate().skip(worker).step_by(concurrency) {
                out.push((i, geocoder.locate(q).await?));
            }
            anyhow::Ok(out)
        });
    }
    let mut answers = Vec::with_capacity(asks.len());
    while let Some(r) = tasks.join_next().await {
        answers.extend(r.context("a benchmark task panicked")??);
    }
    let elapsed_s = started.elapsed().as_secs_f64();

    answers.sort_by_key(|(i, _)| *i);
    let mut spellings: BTreeMap<Spelling, SpellingStats> = BTreeMap::new();
    let mut misses = Vec::new();
    for (i, found) in &answers {
        let (spelling, truth, q) = &asks[*i];
        let st = spellings.entry(*spelling).or_default();
        st.asked += 1;
        let error_m = found.as_ref().map(|r| truths[*truth].error_m(r.location));
        match error_m {
            Some(e) if e <= FOUND_WITHIN_M => st.within += 1,
            Some(_) => {}
            None => st.not_found += 1,
        }
        if error_m.is_none_or(|e| e > FOUND_WITHIN_M) {
            let answer = match (found, error_m) {
                (Some(r), Some(e)) => format!("{} {e:.0} m off", r.precision.as_str()),
                _ => "not found".to_owned(),
            };
            misses.push(format!(
                "{}: {:?}, {:?} {:?} -> {answer}",
                spelling.as_str(),
                q.line.as_deref().unwrap_or_default(),
                q.postal_code.as_deref().unwrap_or_default(),
                q.city.as_deref().unwrap_or_default(),
            ));
        }
    }

    let hidden = hidden_errors(pool, &truths, options).await?;
    let (queries, elapsed_s) = if options.throughput_s > 0.0 {
        throughput(pool, &asks, concurrency, options.throughput_s).await?
    } else {
        (answers.len(), elapsed_s)
    };
    Ok(BenchReport {
        addresses: truths.len(),
        address_points,
        implausible: implausible.len(),
        spellings,
        hidden,
        queries,
        elapsed_s,
        concurrency,
        misses,
    })
}

/// Asks the benchmark's queries over and over for `seconds` with `concurrency` in flight;
/// returns how many were answered and the time taken.
async fn throughput(
    pool: &PgPool,
    asks: &Arc<Vec<(Spelling, usize, Address)>>,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<(usize, f64)> {
    let started = Instant::now();
    let deadline = started + std::time::Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let asks = asks.clone();
        let geocoder = OsmGeocoder::new(pool.clone());
        tasks.spawn(async move {
            let mut done = 0_usize;
            let mine: Vec<&Address> = asks
                .iter()
                .skip(worker)
                .step_by(concurrency)
                .map(|(_, _, q)| q)
                .collect();
            for q in mine.iter().cycle() {
                if Instant::now() >= deadline {
                    break;
                }
                geocoder.locate(q).await?;
                done += 1;
            }
            anyhow::Ok(done)
        });
    }
    let mut queries = 0;
    while let Some(r) = tasks.join_next().await {
        queries += r.context("a benchmark task panicked")??;
    }
    Ok((queries, started.elapsed().as_secs_f64()))
}

/// Asks for each address as written with its points deleted in a transaction that is then
/// rolled back, so the answer must come from the neighbours, the street or beyond.
async fn hidden_errors(
    pool: &PgPool,
    truths: &Arc<Vec<Truth>>,
    options: &BenchOptions,
) -> anyhow::Result<HiddenStats> {
    let picked: Arc<Vec<usize>> = Arc::new((0..truths.len()).collect());
    let concurrency = options.concurrency.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (pool, truths, picked) = (pool.clone(), truths.clone(), picked.clone());
        let number_after_street = options.number_after_street;
        tasks.spawn(async move {
            let mut out: Vec<(f64, Option<Precision>)> = Vec::new();
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            for &i in picked.iter().skip(worker).step_by(concurrency) {
                let t = &truths[i];
                let Some(q) = spell(t, Spelling::AsWritten, number_after_street, &mut rng) else {
                    continue;
                };
                let mut tx = pool
                    .begin()
                    .await
                    .context("starting a hiding transaction")?;
                sqlx::query(include_str!("sql/bench_hide_address.sql"))
                    .bind_all((&t.street_norm, &t.housenumber_norm))
                    .execute(&mut *tx)
                    .await
                    .context("hiding an address point")?;
                let found: Option<GeocodeResult> = search(&mut *tx, &norm::normalize(&q)).await?;
                tx.rollback()
                    .await
                    .context("restoring a hidden address point")?;
                out.push(match found {
                    Some(r) => (t.error_m(r.location), Some(r.precision)),
                    None => (f64::INFINITY, None),
                });
            }
            anyhow::Ok(out)
        });
    }
    let mut stats = HiddenStats::default();
    while let Some(r) = tasks.join_next().await {
        for (error_m, precision) in r.context("a benchmark task panicked")?? {
            stats.errors_m.push(error_m);
            *stats
                .by_precision
                .entry(precision.map_or("not found", Precision::as_str))
                .or_default() += 1;
        }
    }
    stats.errors_m.sort_by(f64::total_cmp);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(street: &str) -> Truth {
        Truth {
            street: street.to_owned(),
            street_norm: String::new(),
            housenumber: "12".to_owned(),
            housenumber_norm: "12".to_owned(),
            postcode: Some("98000".to_owned()),
            city: Some("Monaco".to_owned()),
            points: vec![LonLat::new(7.42, 43.73).expect("valid")],
        }
    }

    #[test]
    fn street_types_and_saints_are_abbreviated_as_people_write_them() {
        assert_eq!(
            abbreviate("Boulevard Albert 1er").as_deref(),
            Some("Bd Albert 1er")
        );
        assert_eq!(
            abbreviate("Avenue Saint-Charles").as_deref(),
            Some("Av. St-Charles")
        );
        assert_eq!(abbreviate("Hauptstraße").as_deref(), Some("Hauptstr."));
        assert_eq!(abbreviate("Mannerheimintie"), None);
        assert_eq!(abbreviate("Quai Antoine 1er"), None);
    }

    #[test]
    fn a_typo_changes_one_inner_letter_of_the_longest_word() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let t = typo("Rue Grimaldi", &mut rng).expect("long enough");
            assert!(t.starts_with("Rue G"), "{t}");
            assert!(t.ends_with('i'), "{t}");
            assert_ne!(t, "Rue Grimaldi");
            let len = t.chars().count() as i64;
            assert!((len - 12).abs() <= 1, "{t}");
        }
        assert_eq!(typo("Rue Bel", &mut rng), None);
    }

    #[test]
    fn spellings_that_do_not_apply_are_skipped() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t = truth("Quai Antoine 1er");
        assert!(spell(&t, Spelling::Abbreviated, false, &mut rng).is_none());
        let mut no_pc = t.clone();
        no_pc.postcode = None;
        assert!(spell(&no_pc, Spelling::NoPostcode, false, &mut rng).is_none());
        let q = spell(&t, Spelling::AsWritten, true, &mut rng).expect("applies");
        assert_eq!(q.line.as_deref(), Some("Quai Antoine 1er 12"));
        let q = spell(&t, Spelling::AsWritten, false, &mut rng).expect("applies");
        assert_eq!(q.line.as_deref(), Some("12 Quai Antoine 1er"));
    }

    #[test]
    fn floors_and_notes_are_not_plausible_house_numbers() {
        for ok in ["12", "12b", "12-14", "11 B 9", "4bis"] {
            assert!(plausible_house_number(ok), "{ok}");
        }
        for junk in [
            "5. krs. / Floor 5",
            "sisäpiha",
            "33 Keskuskatu 5",
            "Floors 1-3",
            "",
        ] {
            assert!(!plausible_house_number(junk), "{junk}");
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank_and_count_misses_as_worst() {
        let stats = HiddenStats {
            errors_m: vec![1.0, 2.0, 3.0, 4.0, f64::INFINITY],
            by_precision: BTreeMap::new(),
        };
        assert_eq!(stats.percentile_m(0.5), Some(3.0));
        assert_eq!(stats.percentile_m(0.9), Some(f64::INFINITY));
        assert_eq!(HiddenStats::default().percentile_m(0.5), None);
    }
}
