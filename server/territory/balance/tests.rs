//! Balancer tests on synthetic accounts (fixed seeds) and small hand-made cases.

use proptest::prelude::*;

use super::synthetic::{Region, accounts, perturb};
use super::*;

fn seeds(k: usize) -> Vec<TerritorySeed> {
    vec![TerritorySeed { home: None }; k]
}

fn run(units: &[Unit], k: usize, mode: Mode) -> Outcome {
    let options = Options {
        mode,
        ..Options::default()
    };
    balance(units, &seeds(k), &options, &|_| {}).expect("plan")
}

#[test]
fn dense_and_sparse_accounts_meet_the_tolerance_in_contiguous_territories() {
    let units = accounts(5_000, &Region::default(), 7);
    let plan = run(&units, 10, Mode::Fresh);
    let m = &plan.metrics;
    assert!(
        m.max_workload_deviation <= 0.05,
        "deviation {}",
        m.max_workload_deviation
    );
    assert!(
        m.contiguous,
        "pieces {:?}",
        m.territories.iter().map(|t| t.pieces).collect::<Vec<_>>()
    );
    assert_eq!(plan.assignment.len(), units.len());
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    // The cells cover every territory, and recomputing the metrics gives the same answer.
    let again = metrics::compute(&units, &plan.assignment, 10, None);
    assert_eq!(&again, m);
    for t in 0..10u32 {
        assert!(plan.cells.iter().any(|&(_, ct)| ct == t));
    }
}

#[test]
fn balanced_plan_loses_little_compactness_to_plain_kmeans() {
    // Plain k-means is as compact as it gets but far from balanced here (a territory with
    // twice the mean workload); balancing must cost compactness. On this data the
    // count-balancing peer (k-means-constrained, ±5% sizes) is about 50% less compact;
    // this guards against regressions past that.
    let units = accounts(5_000, &Region::default(), 11);
    let plan = run(&units, 10, Mode::Fresh);
    // Plain k-means (nearest centre) on the same accounts, for reference.
    let proj = Projection::about(units.iter().map(|u| (u.lon, u.lat)));
    let xy: Vec<[f64; 2]> = units.iter().map(|u| proj.xy(u.lon, u.lat)).collect();
    let centres = power::kmeans_centres(&xy, 10, 1);
    let plain: Vec<u32> = xy
        .iter()
        .map(|p| {
            (0..10)
                .min_by(|&a, &b| {
                    let d = |c: [f64; 2]| (c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2);
                    d(centres[a]).total_cmp(&d(centres[b]))
                })
                .unwrap_or(0) as u32
        })
        .collect();
    let plain_msd = metrics::compute(&units, &plain, 10, None).msd_m2;
    assert!(
        plan.metrics.msd_m2 <= plain_msd * 1.5,
        "balanced {} vs plain {}",
        plan.metrics.msd_m2,
        plain_msd
    );
}

#[test]
fn pinned_accounts_never_move() {
    let mut units = accounts(3_000, &Region::default(), 3);
    // Pin every 25th account to a territory by its index, wherever it is.
    for (i, u) in units.iter_mut().enumerate() {
        if i % 25 == 0 {
            u.fixed = Some((i / 25 % 8) as u32);
        }
    }
    let plan = run(&units, 8, Mode::Fresh);
    for (u, &t) in units.iter().zip(&plan.assignment) {
        if let Some(f) = u.fixed {
            assert_eq!(f, t);
        }
    }
    // Pins scattered everywhere make contiguity impossible: said, not hidden.
    assert!(
        plan.warnings.iter().any(|w| w.contains("pinned")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn a_few_pinned_accounts_keep_tolerance_and_contiguity() {
    let mut units = accounts(3_000, &Region::default(), 5);
    let first = run(&units, 6, Mode::Fresh);
    // Lock 30 accounts where the plan put them (like a manager locking key accounts).
    for i in (0..units.len()).step_by(100) {
        units[i].fixed = Some(first.assignment[i]);
    }
    let plan = run(&units, 6, Mode::Fresh);
    for (u, &t) in units.iter().zip(&plan.assignment) {
        if let Some(f) = u.fixed {
            assert_eq!(f, t);
        }
    }
    assert!(plan.metrics.max_workload_deviation <= 0.05);
}

#[test]
fn annealing_makes_a_plan_more_compact_within_tolerance_keeping_locks_and_one_piece() {
    let mut units = accounts(4_000, &Region::default(), 13);
    let quick = run(&units, 8, Mode::Fresh);
    // Lock 40 accounts where the quick plan put them.
    for i in (0..units.len()).step_by(100) {
        units[i].fixed = Some(quick.assignment[i]);
    }
    let quick = run(&units, 8, Mode::Fresh);
    let options = Options {
        anneal: Some(Anneal {
            sweeps: 40,
            proposals_per_zone: 10.0,
            start_temperature: 3.0,
        }),
        ..Options::default()
    };
    let annealed = balance(&units, &seeds(8), &options, &|_| {}).expect("plan");
    let m = &annealed.metrics;
    assert!(
        m.msd_m2 < quick.metrics.msd_m2,
        "annealed {} vs quick {}",
        m.msd_m2,
        quick.metrics.msd_m2
    );
    assert!(
        m.max_workload_deviation <= 0.05,
        "{}",
        m.max_workload_deviation
    );
    assert!(m.contiguous, "{:?}", annealed.warnings);
    for (u, &t) in units.iter().zip(&annealed.assignment) {
        if let Some(f) = u.fixed {
            assert_eq!(f, t);
        }
    }
}

#[test]
fn stability_after_five_percent_changes_moves_at_most_twice_the_changes() {
    let region = Region::default();
    let units = accounts(5_000, &region, 21);
    let first = run(&units, 10, Mode::Fresh);
    let (changed_units, changes) = perturb(&units, &first.assignment, 0.05, 99);
    let plan = run(&changed_units, 10, Mode::Stability);
    let m = &plan.metrics;
    assert!(
        m.max_workload_deviation <= 0.05,
        "deviation {}",
        m.max_workload_deviation
    );
    assert!(m.contiguous);
    assert!(
        m.moved as usize <= 2 * changes,
        "moved {} for {} changes",
        m.moved,
        changes
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let units = accounts(10, &Region::default(), 1);
    let o = Options::default();
    assert_eq!(
        balance(&units, &[], &o, &|_| {}).err(),
        Some(BalanceError::NoTerritories)
    );
    assert_eq!(
        balance(&units, &seeds(11), &o, &|_| {}).err(),
        Some(BalanceError::MoreTerritoriesThanUnits {
            territories: 11,
            units: 10
        })
    );
    let bad_tol = Options {
        tolerance: 0.0,
        ..Options::default()
    };
    assert!(matches!(
        balance(&units, &seeds(2), &bad_tol, &|_| {}),
        Err(BalanceError::InvalidTolerance(_))
    ));
    let mut bad = units.clone();
    bad[3].lat = 91.0;
    assert!(matches!(
        balance(&bad, &seeds(2), &o, &|_| {}),
        Err(BalanceError::InvalidCoordinates { index: 3, .. })
    ));
    let mut bad = units.clone();
    bad[4].workload = f64::NAN;
    assert!(matches!(
        balance(&bad, &seeds(2), &o, &|_| {}),
        Err(BalanceError::InvalidWorkload { index: 4, .. })
    ));
    let mut bad = units;
    bad[5].fixed = Some(2);
    assert!(matches!(
        balance(&bad, &seeds(2), &o, &|_| {}),
        Err(BalanceError::UnknownTerritory {
            index: 5,
            territory: 2,
            ..
        })
    ));
}

#[test]
fn an_account_heavier_than_the_tolerance_allows_gives_a_warning_not_an_error() {
    let mut units = accounts(200, &Region::default(), 4);
    units[0].workload = 1e9;
    let plan = run(&units, 4, Mode::Fresh);
    assert!(
        plan.warnings.iter().any(|w| w.contains("tolerance")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn progress_goes_from_zero_to_one() {
    let units = accounts(500, &Region::default(), 2);
    let seen = std::sync::Mutex::new(Vec::new());
    balance(&units, &seeds(3), &Options::default(), &|p| {
        seen.lock().expect("lock").push(p);
    })
    .expect("plan");
    let seen = seen.into_inner().expect("lock");
    assert_eq!(seen.first(), Some(&0.0));
    assert_eq!(seen.last(), Some(&1.0));
    assert!(seen.iter().all(|p| (0.0..=1.0).contains(p)));
}

#[test]
fn home_bases_put_each_territory_around_its_rep() {
    let units = accounts(2_000, &Region::default(), 8);
    // Three reps at three accounts far apart.
    let homes = [0usize, 700, 1400].map(|i| (units[i].lon, units[i].lat));
    let seeds: Vec<TerritorySeed> = homes
        .iter()
        .map(|&(lon, lat)| TerritorySeed {
            home: Some(LonLat::new(lon, lat).expect("valid")),
        })
        .collect();
    let options = Options {
        use_home_bases: true,
        ..Options::default()
    };
    let plan = balance(&units, &seeds, &options, &|_| {}).expect("plan");
    assert!(plan.metrics.max_workload_deviation <= 0.05);
    assert!(plan.metrics.contiguous);
}

/// Two reps at the two ends of a strip of accounts, with drive times that contradict the
/// map (each home is near the far end by road, as across a bridge): the drive-time plan
/// follows the roads, the straight-line plan the map.
#[test]
fn drive_times_from_home_bases_decide_where_territories_reach() {
    // 40 × 10 accounts on a 10 km × 2.5 km strip, equal workloads.
    let units: Vec<Unit> = (0..400)
        .map(|i| Unit {
            lon: 2.20 + f64::from(i % 40) * 0.0034,
            lat: 48.80 + f64::from(i / 40) * 0.0025,
            workload: 600.0,
            fixed: None,
            current: None,
        })
        .collect();
    let west = (2.20, 48.81);
    let east = (2.20 + 39.0 * 0.0034, 48.81);
    let seeds = [west, east].map(|(lon, lat)| TerritorySeed {
        home: Some(LonLat::new(lon, lat).expect("valid")),
    });
    let km = |a: (f64, f64), u: &Unit| {
        let dx = (u.lon - a.0) * 73.2;
        let dy = (u.lat - a.1) * 111.2;
        (dx * dx + dy * dy).sqrt()
    };
    // The west rep drives to the east end quickly and vice versa.
    let mut minutes = Vec::with_capacity(800);
    for home in [east, west] {
        minutes.extend(units.iter().map(|u| (2.0 * km(home, u) + 1.0) as f32));
    }
    let straight = Options {
        use_home_bases: true,
        ..Options::default()
    };
    let by_road = Options {
        drive_minutes: Some(DriveMinutes {
            units: units.len(),
            minutes,
        }),
        ..straight.clone()
    };
    let a = balance(&units, &seeds, &straight, &|_| {}).expect("plan");
    let b = balance(&units, &seeds, &by_road, &|_| {}).expect("plan");
    let (west_end, east_end) = (0, 39);
    assert_eq!((a.assignment[west_end], a.assignment[east_end]), (0, 1));
    assert_eq!((b.assignment[west_end], b.assignment[east_end]), (1, 0));
    for plan in [&a, &b] {
        assert!(plan.metrics.max_workload_deviation <= 0.05);
        assert!(plan.metrics.contiguous);
    }
    // A matrix of the wrong size is refused.
    let bad = Options {
        drive_minutes: Some(DriveMinutes {
            units: units.len(),
            minutes: vec![1.0; 3],
        }),
        ..straight
    };
    assert!(matches!(
        balance(&units, &seeds, &bad, &|_| {}),
        Err(BalanceError::DriveMinutesShape { .. })
    ));
}

/// A stability run of a drive-time plan moves the accounts the receiving rep reaches quickly
/// by road. A 30 × 20 grid: the west territory holds 16 of the 30 columns, so less than a
/// column must move; the east rep's roads reach the northern half fast and the southern half
/// slowly (straight-line distances are the same north and south).
#[test]
fn stability_runs_move_the_accounts_nearest_by_road() {
    let (cols, rows) = (30u32, 20u32);
    let units: Vec<Unit> = (0..cols * rows)
        .map(|i| Unit {
            lon: 2.20 + f64::from(i % cols) * 0.0034,
            lat: 48.80 + f64::from(i / cols) * 0.0025,
            workload: 600.0,
            fixed: None,
            current: Some(u32::from(i % cols >= 16)),
        })
        .collect();
    let mid_lat = 48.80 + 9.5 * 0.0025;
    let west = (2.20, mid_lat);
    let east = (2.20 + 29.0 * 0.0034, mid_lat);
    let seeds = [west, east].map(|(lon, lat)| TerritorySeed {
        home: Some(LonLat::new(lon, lat).expect("valid")),
    });
    let km = |a: (f64, f64), u: &Unit| {
        let dx = (u.lon - a.0) * 73.2;
        let dy = (u.lat - a.1) * 111.2;
        (dx * dx + dy * dy).sqrt()
    };
    let north = |u: &Unit| u.lat > mid_lat;
    let mut minutes: Vec<f32> = units
        .iter()
        .map(|u| (2.0 * km(west, u) + 1.0) as f32)
        .collect();
    minutes.extend(units.iter().map(|u| {
        let per_km = if north(u) { 2.0 } else { 8.0 };
        (per_km * km(east, u) + 1.0) as f32
    }));
    let straight = Options {
        mode: Mode::Stability,
        use_home_bases: true,
        ..Options::default()
    };
    let by_road = Options {
        drive_minutes: Some(DriveMinutes {
            units: units.len(),
            minutes,
        }),
        ..straight.clone()
    };
    let north_share = |options: &Options| {
        let plan = balance(&units, &seeds, options, &|_| {}).expect("plan");
        assert!(
            plan.metrics.max_workload_deviation <= 0.05,
            "{:?}",
            plan.metrics
        );
        assert!(plan.metrics.contiguous);
        let moved: Vec<&Unit> = units
            .iter()
            .zip(&plan.assignment)
            .filter(|(u, t)| u.current != Some(**t))
            .map(|(u, _)| u)
            .collect();
        // West had 320 of 600 accounts of equal workload: 20 over the mean, 7 to 20 of them
        // must go east (the stability goal is 90% of ±5%).
        assert!((7..=20).contains(&moved.len()), "{} moved", moved.len());
        moved.iter().filter(|u| north(u)).count() as f64 / moved.len() as f64
    };
    let (a, b) = (north_share(&straight), north_share(&by_road));
    eprintln!("north share of the moved accounts: by road {b:.2}, straight line {a:.2}");
    assert!(
        b >= 0.75,
        "by road {b:.2} of the moved accounts are in the north"
    );
    assert!(b >= a + 0.2, "by road {b:.2} north, straight line {a:.2}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_synthetic_plan_is_complete_pinned_and_contiguous(
        n in 60usize..600,
        k in 1usize..8,
        seed in 0u64..1_000,
        pin_every in 7usize..40,
    ) {
        let mut units = accounts(n, &Region { side_km: 20.0, clustered: 0.6, clusters: 3, spread_km: (0.5, 2.0), ..Region::default() }, seed);
        for (i, u) in units.iter_mut().enumerate() {
            if i % pin_every == 0 {
                u.fixed = Some((i % k) as u32);
            }
        }
        let plan = run(&units, k, Mode::Fresh);
        prop_assert_eq!(plan.assignment.len(), n);
        prop_assert!(plan.assignment.iter().all(|&t| (t as usize) < k));
        for (u, &t) in units.iter().zip(&plan.assignment) {
            if let Some(f) = u.fixed {
                prop_assert_eq!(f, t);
            }
        }
        // Contiguity holds unless the plan says why not.
        prop_assert!(
            plan.metrics.contiguous || plan.warnings.iter().any(|w| w.contains("pieces")),
            "{:?}", plan.warnings
        );
    }
}

/// The same accounts with workloads in minutes, hours, scores: the same stability plan. A
/// threshold that carries a unit (an absolute workload somewhere) shows as a different plan.
#[test]
fn stability_plans_do_not_depend_on_the_workloads_unit() {
    for (n, k, seed) in [(500, 5, 31), (500, 10, 32), (2_000, 8, 33)] {
        stability_is_unit_free(n, k, seed);
    }
}

fn stability_is_unit_free(n: usize, k: usize, seed: u64) {
    let units = accounts(n, &Region::default(), seed);
    let mean = units.iter().map(|u| u.workload).sum::<f64>() / units.len() as f64;
    // As a team would weigh the same accounts: scores averaging 1e-3 or 1, or long visits.
    let plans: Vec<(f64, Outcome, usize)> = [1e-3, 1.0, 1e3]
        .iter()
        .map(|&factor| {
            let scaled: Vec<Unit> = units
                .iter()
                .map(|u| Unit {
                    workload: u.workload / mean * factor,
                    ..u.clone()
                })
                .collect();
            let first = run(&scaled, k, Mode::Fresh);
            let (changed, _) = perturb(&scaled, &first.assignment, 0.05, seed);
            (factor, run(&changed, k, Mode::Stability), changed.len())
        })
        .collect();
    let (_, reference, _) = &plans[1];
    for (factor, plan, len) in &plans {
        let moved = plan.metrics.moved as f64;
        let ref_moved = reference.metrics.moved as f64;
        assert!(
            (moved - ref_moved).abs() <= 0.01 * *len as f64,
            "{n} accounts, {k} territories, mean workload {factor}: moved {moved}, at mean 1.0 \
             moved {ref_moved}"
        );
        let differ = plan
            .assignment
            .iter()
            .zip(&reference.assignment)
            .filter(|(a, b)| a != b)
            .count();
        assert!(
            differ as f64 <= 0.01 * *len as f64,
            "mean workload {factor}: {differ} accounts in other territories than at mean 1.0"
        );
        assert!(plan.metrics.max_workload_deviation <= 0.05);
    }
}
