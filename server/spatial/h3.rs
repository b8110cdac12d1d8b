//! `H3Cell`: an H3 cell as the database stores it (`accounts.h3_cell`, `plan_cells.cell`: `bigint`).

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::LonLat;

/// H3 resolution stored in `accounts.h3_cell` (cells of about 0.1 km²).
pub const ACCOUNT_H3_RESOLUTION: Resolution = Resolution::Nine;

/// Why a point has no H3 cell. Unreachable for a valid [`LonLat`]; kept so that a change in
/// `h3o` shows up as an error rather than a panic.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum H3Error {
    #[error("point outside H3's domain")]
    OutsideDomain,
}

/// An H3 cell as stored in the database: the 64-bit index as a signed integer (valid indexes
/// have the top bit clear, so the conversion is lossless and keeps the order). Accounts' cells
/// are at [`ACCOUNT_H3_RESOLUTION`]; plans' cells are of mixed resolutions. Converts to and
/// from `h3o`'s [`CellIndex`] here only.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct H3Cell(i64);

impl H3Cell {
    /// The cell holding `p` at [`ACCOUNT_H3_RESOLUTION`].
    ///
    /// ```
    /// use terrane::spatial::{H3Cell, LonLat};
    /// let monaco = LonLat::new(7.4246, 43.7384).expect("valid");
    /// let cell = H3Cell::at(monaco).expect("a cell");
    /// assert_eq!(cell.get() >> 52 & 0xf, 9); // the resolution field of the index
    /// ```
    pub fn at(p: LonLat) -> Result<Self, H3Error> {
        let cell = LatLng::new(p.lat(), p.lon())
            .map_err(|_| H3Error::OutsideDomain)?
            .to_cell(ACCOUNT_H3_RESOLUTION);
        Ok(Self::from(cell))
    }

    /// The index as stored in `accounts.h3_cell`.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The `h3o` cell, or `None` for a stored value that is no H3 cell index.
    pub fn index(self) -> Option<CellIndex> {
        CellIndex::try_from(self.0.cast_unsigned()).ok()
    }
}

impl From<CellIndex> for H3Cell {
    fn from(cell: CellIndex) -> Self {
        // A cell index has its reserved top bit clear: the cast keeps the value.
        Self(u64::from(cell).cast_signed())
    }
}

impl From<H3Cell> for i64 {
    fn from(cell: H3Cell) -> i64 {
        cell.0
    }
}

#[cfg(test)]
mod tests {
    use h3o::CellIndex;

    use super::*;

    #[test]
    fn a_cell_is_the_resolution_nine_h3_index_as_a_signed_integer() {
        let p = LonLat::new(7.4246, 43.7384).expect("valid");
        let expected = LatLng::new(43.7384, 7.4246)
            .expect("valid")
            .to_cell(Resolution::Nine);
        let cell = H3Cell::at(p).expect("a cell");
        assert_eq!(
            cell.get(),
            i64::try_from(u64::from(expected)).expect("top bit clear")
        );
        let back =
            CellIndex::try_from(u64::try_from(cell.get()).expect("positive")).expect("index");
        assert_eq!(back.resolution(), Resolution::Nine);
        assert_eq!(cell.index(), Some(back));
        assert_eq!(H3Cell::from(back), cell);
    }

    #[test]
    fn cells_of_any_resolution_round_trip_and_keep_their_order() {
        let at = LatLng::new(43.7384, 7.4246).expect("valid");
        let indexes: Vec<CellIndex> = [Resolution::Three, Resolution::Seven, Resolution::Twelve]
            .into_iter()
            .map(|r| at.to_cell(r))
            .collect();
        let cells: Vec<H3Cell> = indexes.iter().copied().map(H3Cell::from).collect();
        for (cell, index) in cells.iter().zip(&indexes) {
            assert_eq!(cell.index(), Some(*index));
            assert_eq!(cell.get().cast_unsigned(), u64::from(*index));
        }
        let mut by_cell = cells.clone();
        by_cell.sort_unstable();
        let mut by_index = indexes.clone();
        by_index.sort_unstable_by_key(|&c| u64::from(c));
        let sorted: Vec<H3Cell> = by_index.into_iter().map(H3Cell::from).collect();
        assert_eq!(by_cell, sorted);
        assert_eq!(H3Cell(0).index(), None);
    }
}
