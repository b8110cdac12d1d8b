//! The invented half of the demo CRM: tiers, values and visit rhythms, the reps and their home
//! bases, and names for synthetic prospects. All randomness comes from seeded ChaCha8 streams.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::osm::geometry::Xy;

/// Seed of every random draw in the dataset; stored in the file so a reader knows what made it.
pub const DEMO_SEED: u64 = 0x7E22_A4E5_0000_0001;

/// Independent random streams of one seed. Each purpose draws from its own stream, so changing
/// how many values one step draws does not reshuffle the others.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Prospects = 1,
    Tiers = 2,
    Terms = 3,
}

/// ChaCha8 is specified bit for bit, so its output is the same on every machine.
pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// Account tier: A are the few big accounts, C the long tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    A,
    B,
    C,
}

/// Share of accounts per tier, in percent: the usual 15/35/50 sales pyramid.
const TIER_PERCENT: [(Tier, usize); 3] = [(Tier::A, 15), (Tier::B, 35), (Tier::C, 50)];

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::A => "A",
            Tier::B => "B",
            Tier::C => "C",
        }
    }

    /// Median annual value in euros, the lognormal's spread, and the band it is clamped to
    /// so tiers stay recognisable (an A account is always worth more than any C account).
    fn value_model(self) -> (f64, f64, (f64, f64)) {
        match self {
            Tier::A => (55_000.0, 0.45, (25_000.0, 250_000.0)),
            Tier::B => (14_000.0, 0.40, (6_000.0, 40_000.0)),
            Tier::C => (3_500.0, 0.45, (800.0, 9_000.0)),
        }
    }

    fn visits_per_year(self) -> std::ops::RangeInclusive<u16> {
        match self {
            Tier::A => 12..=24,
            Tier::B => 6..=12,
            Tier::C => 2..=6,
        }
    }

    fn priority(self) -> std::ops::RangeInclusive<u8> {
        match self {
            Tier::A => 1..=2,
            Tier::B => 2..=4,
            Tier::C => 3..=5,
        }
    }
}

/// How many of `n` accounts get tier A, B and C (rounded, C takes the remainder).
pub fn tier_counts(n: usize) -> [usize; 3] {
    let a = (n * TIER_PERCENT[0].1 + 50) / 100;
    let b = (n * TIER_PERCENT[1].1 + 50) / 100;
    [a, b, n.saturating_sub(a + b)]
}

/// Tiers for `n` accounts in exactly the [`tier_counts`] mix, in random order.
pub fn assign_tiers(n: usize, rng: &mut ChaCha8Rng) -> Vec<Tier> {
    let counts = tier_counts(n);
    let mut tiers: Vec<Tier> = TIER_PERCENT
        .iter()
        .zip(counts)
        .flat_map(|((tier, _), count)| std::iter::repeat_n(*tier, count))
        .collect();
    tiers.shuffle(rng);
    tiers
}

/// The commercial terms of one account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Terms {
    pub annual_value_eur: u32,
    pub visits_per_year: u16,
    pub priority: u8,
}

/// Draws value, visit rhythm and priority for an account of `tier`.
pub fn draw_terms(tier: Tier, rng: &mut ChaCha8Rng) -> Terms {
    let (median_eur, sigma, (min_eur, max_eur)) = tier.value_model();
    // Box-Muller: one standard normal from two uniforms; 1 - u keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let value_eur = (median_eur * (sigma * z).exp()).clamp(min_eur, max_eur);
    // Round to tens of euros: CRM values are estimates, and coarse values survive any
    // last-bit difference in `exp` between platforms. The clamp keeps the cast in range.
    let annual_value_eur = ((value_eur / 10.0).round() * 10.0) as u32;
    Terms {
        annual_value_eur,
        visits_per_year: rng.random_range(tier.visits_per_year()),
        priority: rng.random_range(tier.priority()),
    }
}

/// A demo rep's invented identity.
#[derive(Debug, Clone, Copy)]
pub struct RepIdentity {
    pub name: &'static str,
    pub email: &'static str,
}

/// Six invented reps; `example.com` addresses so nothing can ever be mailed by accident.
pub const REPS: [RepIdentity; 6] = [
    RepIdentity {
        name: "Camille Martin",
        email: "camille.martin@example.com",
    },
    RepIdentity {
        name: "Luca Bianchi",
        email: "luca.bianchi@example.com",
    },
    RepIdentity {
        name: "Inès Garnier",
        email: "ines.garnier@example.com",
    },
    RepIdentity {
        name: "Hugo Lefèvre",
        email: "hugo.lefevre@example.com",
    },
    RepIdentity {
        name: "Sofia Rossi",
        email: "sofia.rossi@example.com",
    },
    RepIdentity {
        name: "Marc Giraud",
        email: "marc.giraud@example.com",
    },
];

/// Local working hours of every demo rep.
pub const WORK_START: &str = "08:30";
pub const WORK_END: &str = "17:30";

/// Picks `k` home bases among `candidates` (road nodes) so that reps sit where the accounts
/// are: k-means over the accounts, each centre then moved to the nearest unused candidate.
///
/// Plain farthest-point sampling over road nodes would put most reps in the empty hills at
/// the edges of the extract and leave one rep with nearly every account; clustering the
/// accounts gives territories a demo can work with. Deterministic: the first centre is the
/// account nearest the mean, later ones are farthest-point picks, and ties go to lower indices.
///
/// Returns indices into `candidates`; fewer than `k` only if there are fewer candidates.
pub fn home_bases(accounts: &[Xy], candidates: &[Xy], k: usize) -> Vec<usize> {
    let points = if accounts.is_empty() {
        candidates
    } else {
        accounts
    };
    if points.is_empty() || k == 0 {
        return Vec::new();
    }
    let mut centres = farthest_point_seeds(points, k);
    let mut assignment = vec![usize::MAX; points.len()];
    // Lloyd's iterations until no account changes cluster (bounded in case of a cycle).
    for _ in 0..100 {
        let mut changed = false;
        for (slot, p) in assignment.iter_mut().zip(points) {
            let nearest = nearest_index(&centres, *p).unwrap_or(0);
            changed |= *slot != nearest;
            *slot = nearest;
        }
        if !changed {
            break;
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<Xy> = points
                .iter()
                .zip(&assignment)
                .filter(|(_, a)| **a == c)
                .map(|(p, _)| *p)
                .collect();
            if !members.is_empty() {
                *centre = mean(&members);
            }
        }
    }

    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    for centre in centres {
        let best = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| !chosen.contains(i))
            .min_by(|a, b| {
                centre
                    .distance_m(*a.1)
                    .total_cmp(&centre.distance_m(*b.1))
                    .then(a.0.cmp(&b.0))
            });
        if let Some((i, _)) = best {
            chosen.push(i);
        }
    }
    chosen
}

fn farthest_point_seeds(points: &[Xy], k: usize) -> Vec<Xy> {
    let centre = mean(points);
    let mut seeds = Vec::with_capacity(k);
    if let Some(first) = nearest_index(points, centre) {
        seeds.push(points[first]);
    }
    while seeds.len() < k {
        let farthest = points
            .iter()
            .map(|p| {
                seeds
                    .iter()
                    .map(|s| s.distance_m(*p))
                    .fold(f64::INFINITY, f64::min)
            })
            .enumerate()
            // max_by keeps the last of equal maxima; compare reversed indices to keep the first.
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match farthest {
            Some((i, _)) => seeds.push(points[i]),
            None => break,
        }
    }
    seeds
}

fn mean(points: &[Xy]) -> Xy {
    let n = points.len().max(1) as f64;
    Xy {
        x_m: points.iter().map(|p| p.x_m).sum::<f64>() / n,
        y_m: points.iter().map(|p| p.y_m).sum::<f64>() / n,
    }
}

/// Index of the point nearest to `p`, the lowest index on ties.
/// The `n`-th (1-based) demo HubSpot company id: digits, as HubSpot's are.
pub fn hubspot_company_id(n: u32) -> String {
    (10_000_000 + u64::from(n)).to_string()
}

/// The `n`-th (1-based) demo Salesforce `Account` id: key prefix `001`, a made-up pod and
/// instance part, the counter in base 62, then the 3-character case-safe suffix Salesforce
/// appends to make 18-character ids.
pub fn salesforce_account_id(n: u32) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut digits = [b'0'; 6];
    let mut rest = n as usize;
    for d in digits.iter_mut().rev() {
        *d = BASE62[rest % 62];
        rest /= 62;
    }
    let mut id = String::from("001Dm0000");
    id.extend(digits.iter().map(|&b| char::from(b)));
    let suffix = salesforce_suffix(&id);
    id.push_str(&suffix);
    id
}

/// The case-safe suffix of a 15-character Salesforce id: for each 5-character chunk, a bit per
/// upper-case letter, mapped into `A-Z0-5`.
pub fn salesforce_suffix(id15: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            char::from(ALPHABET[bits])
        })
        .collect()
}

pub fn nearest_index(points: &[Xy], p: Xy) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .min_by(|a, b| {
            p.distance_m(*a.1)
                .total_cmp(&p.distance_m(*b.1))
                .then(a.0.cmp(&b.0))
        })
        .map(|(i, _)| i)
}

/// Kinds of invented prospects: `(industry suffix, name suffix)`. The names read as obviously
/// made up ("Rue Grimaldi Pharmacy") on purpose.
pub const PROSPECT_KINDS: &[(&str, &str)] = &[
    ("pharmacy", "Pharmacy"),
    ("bakery", "Bakery"),
    ("cafe", "Café"),
    ("restaurant", "Bistro"),
    ("florist", "Florist"),
    ("optician", "Opticians"),
    ("hairdresser", "Hair Studio"),
    ("hardware", "Hardware"),
    ("dentist", "Dental Practice"),
    ("wine", "Wine Cellar"),
    ("books", "Books"),
    ("fitness", "Fitness Club"),
    ("deli", "Delicatessen"),
    ("dry_cleaning", "Dry Cleaners"),
    ("veterinary", "Veterinary Clinic"),
    ("stationery", "Stationers"),
];

/// The name and industry of a prospect of kind `PROSPECT_KINDS[kind]` on `street`, with a
/// number appended when the plain name is already `taken`.
pub fn prospect_identity(
    street: &str,
    kind: usize,
    taken: &impl Fn(&str) -> bool,
) -> (String, String) {
    let (slug, label) = PROSPECT_KINDS[kind % PROSPECT_KINDS.len()];
    let base = format!("{street} {label}");
    // Some numbered name is always free: `taken` holds finitely many names.
    #[allow(clippy::maybe_infinite_iter)]
    let name = std::iter::once(base.clone())
        .chain((2..).map(|n| format!("{base} {n}")))
        .find(|candidate| !taken(candidate))
        .unwrap_or(base);
    (name, format!("prospect:{slug}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ids_have_the_vendors_shapes() {
        assert_eq!(hubspot_company_id(1), "10000001");
        let id = salesforce_account_id(63);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("001Dm0000000011"));
        // "001Dm": D (bit 3) upper; "0000" + "00": none; "00011": none.
        assert_eq!(&id[15..], "IAA");
        assert_eq!(salesforce_suffix("ABCDEabcde00000"), "5AA");
    }

    #[test]
    fn six_hundred_accounts_split_90_210_300() {
        assert_eq!(tier_counts(600), [90, 210, 300]);
        assert_eq!(tier_counts(7).iter().sum::<usize>(), 7);
    }

    #[test]
    fn assigned_tiers_follow_the_mix_and_the_seed() {
        let tiers = assign_tiers(600, &mut rng(DEMO_SEED, Stream::Tiers));
        let count = |t| tiers.iter().filter(|x| **x == t).count();
        assert_eq!(
            (count(Tier::A), count(Tier::B), count(Tier::C)),
            (90, 210, 300)
        );
        assert_eq!(tiers, assign_tiers(600, &mut rng(DEMO_SEED, Stream::Tiers)));
        assert_ne!(&tiers[..20], &[Tier::A; 20][..], "the tiers are shuffled");
    }

    #[test]
    fn terms_stay_inside_each_tiers_bands() {
        let mut r = rng(DEMO_SEED, Stream::Terms);
        for _ in 0..500 {
            let a = draw_terms(Tier::A, &mut r);
            let c = draw_terms(Tier::C, &mut r);
            assert!(a.annual_value_eur > c.annual_value_eur);
            assert!((12..=24).contains(&a.visits_per_year) && (2..=6).contains(&c.visits_per_year));
            assert!(a.priority <= 2 && c.priority >= 3);
        }
    }

    #[test]
    fn tier_a_is_worth_much_more_than_tier_c_on_average() {
        let mut r = rng(DEMO_SEED, Stream::Terms);
        let avg = |tier, r: &mut ChaCha8Rng| {
            (0..400)
                .map(|_| f64::from(draw_terms(tier, r).annual_value_eur))
                .sum::<f64>()
                / 400.0
        };
        let (a, c) = (avg(Tier::A, &mut r), avg(Tier::C, &mut r));
        assert!(a > 10.0 * c, "A {a} vs C {c}");
    }

    #[test]
    fn home_bases_sit_near_the_account_clusters() {
        // Two clusters of accounts 10 km apart; road nodes everywhere on a 1 km grid.
        let mut accounts = Vec::new();
        for i in 0..20 {
            let d = f64::from(i) * 10.0;
            accounts.push(Xy { x_m: d, y_m: 0.0 });
            accounts.push(Xy {
                x_m: 10_000.0 + d,
                y_m: 0.0,
            });
        }
        let candidates: Vec<Xy> = (0..=20)
            .flat_map(|x| {
                (-5..=5).map(move |y| Xy {
                    x_m: f64::from(x) * 1000.0,
                    y_m: f64::from(y) * 1000.0,
                })
            })
            .collect();
        let mut picked: Vec<Xy> = home_bases(&accounts, &candidates, 2)
            .into_iter()
            .map(|i| candidates[i])
            .collect();
        picked.sort_by(|a, b| a.x_m.total_cmp(&b.x_m));
        assert_eq!(
            picked,
            vec![
                Xy { x_m: 0.0, y_m: 0.0 },
                Xy {
                    x_m: 10_000.0,
                    y_m: 0.0
                }
            ]
        );
    }

    #[test]
    fn home_bases_are_distinct_even_when_centres_share_a_nearest_node() {
        let accounts = vec![
            Xy { x_m: 0.0, y_m: 0.0 },
            Xy {
                x_m: 10.0,
                y_m: 0.0,
            },
        ];
        let candidates = vec![
            Xy { x_m: 5.0, y_m: 0.0 },
            Xy {
                x_m: 500.0,
                y_m: 0.0,
            },
        ];
        let picked = home_bases(&accounts, &candidates, 2);
        assert_eq!(picked.len(), 2);
        assert_ne!(picked[0], picked[1]);
    }

    #[test]
    fn a_taken_prospect_name_gets_a_number() {
        let (name, industry) =
            prospect_identity("Rue Grimaldi", 0, &|n: &str| n == "Rue Grimaldi Pharmacy");
        assert_eq!(name, "Rue Grimaldi Pharmacy 2");
        assert_eq!(industry, "prospect:pharmacy");
    }
}
