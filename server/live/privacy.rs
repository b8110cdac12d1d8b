//! Privacy at ingest: a `coarse` ping's position becomes the centre of its geohash cell before
//! anything is stored (`docs/privacy.md`).

use geohash::Coord;

use super::envelope::Tier;
use crate::spatial::LonLat;

/// The position that may be stored for a ping of `tier`: as measured for `precise`, the
/// centre of its geohash cell of `precision` characters (6: about 1.2 km by 0.6 km) for
/// `coarse`.
pub fn storable(position: LonLat, tier: Tier, precision: usize) -> LonLat {
    match tier {
        Tier::Precise => position,
        Tier::Coarse => snap(position, precision),
    }
}

/// The centre of the geohash cell of `precision` characters (1 to 12) holding `p`.
pub fn snap(p: LonLat, precision: usize) -> LonLat {
    let coord = Coord {
        x: p.lon(),
        y: p.lat(),
    };
    // A valid LonLat always encodes; the precision is checked at start-up.
    geohash::encode(coord, precision.clamp(1, 12))
        .ok()
        .and_then(|cell| geohash::decode(&cell).ok())
        .and_then(|(centre, _, _)| LonLat::new(centre.x, centre.y).ok())
        .unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_positions_in_one_cell_become_the_same_centre() {
        let a = LonLat::new(7.42461, 43.73841).expect("valid in tests");
        let b = LonLat::new(7.42503, 43.73902).expect("valid in tests");
        let (sa, sb) = (snap(a, 6), snap(b, 6));
        assert_eq!(sa, sb);
        assert_ne!(sa, a);
        // Within the cell: half a cell of 1.2 km by 0.6 km at most.
        assert!(a.distance_m(sa) < 700.0, "{}", a.distance_m(sa));
    }

    #[test]
    fn precise_positions_are_kept() {
        let a = LonLat::new(7.42461, 43.73841).expect("valid in tests");
        assert_eq!(storable(a, Tier::Precise, 6), a);
        assert_ne!(storable(a, Tier::Coarse, 6), a);
    }
}
