//! The one postal-address shape: what a CRM, a CSV file or the demo data set holds for an
//! account, what the geocoder is asked, and what the address columns of `accounts` store.

use serde::{Deserialize, Serialize};

/// A postal address. Every part is optional; empty strings are treated as absent.
/// Read from rows by the columns of `accounts` (`address_line`, `house_number`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::FromRow)]
pub struct Address {
    /// One free-form street line ("6 Quai Antoine 1er") when the source does not split house
    /// number and street.
    #[sqlx(rename = "address_line")]
    pub line: Option<String>,
    pub house_number: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_code: Option<String>,
}
