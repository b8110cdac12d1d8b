//! Address normalization: the many spellings of one address become one stable cache key, and the
//! built-in geocoder indexes OpenStreetMap street names with the same rules as the queries.
//!
//! # Rules
//!
//! Every part goes through the same folding first: Unicode compatibility decomposition (so
//! NFKC forms, full-width digits and ligatures agree), accents dropped (`é` → `e`, `ç` → `c`),
//! lower case, the letters that do not decompose spelled out (`œ` → `oe`, `æ` → `ae`,
//! `ß` → `ss`, `ø` → `o`, `ł` → `l`), `°` read as the ordinal `o`. Anything that is not a letter
//! or a digit separates words, except that `'s` stays glued (`Mary's` = `Marys`); commas,
//! semicolons and line breaks separate the segments of a free-form line.
//!
//! Street names ([`normalize_street_name`]):
//! - Street types are written as one full word per language. French types stand first
//!   ("rue de la Paix"), English ones last ("Baker Street"), so each abbreviation is expanded
//!   only where its type stands (the `STREET_TYPES` table). The short ones that could be a name
//!   elsewhere (`r` → `rue`, `all` → `allee`, `ch` → `chemin`, `qu` → `quai`) expand only as the
//!   first word, and not when the name ends with an English type ("All Saints Road").
//! - `st` is `street` as the last word and `saint` anywhere else (`ste` → `sainte`); `dr` is
//!   `drive` as the last word and `docteur` elsewhere; `rd` is `road` as the last word but stays
//!   `rd` before a number (a French departmental road, "RD 6098"). French titles are expanded
//!   (`gal` → `general`, `mal` → `marechal`, `pdt` → `president`, ...).
//! - English directions next to an English type are spelled out ("Main St N" →
//!   "main street north").
//! - Ordinals become digits and one suffix: `1er` for the first, `<n>e` for the others
//!   ("1st", "1°", "Ier", "premier" → `1er`; "2nd", "2ème", "second" → `2e`). A day before a
//!   month is the bare number, whether written in digits or in French words ("1er Mai",
//!   "Huit Mai", "Dix-Huit Juin" → `1 mai`, `8 mai`, `18 juin`).
//! - Leading zeros go; runs of single-letter initials merge ("J.-F. Kennedy" → `jf kennedy`);
//!   German `-str` becomes `-strasse`.
//!
//! House numbers: digits without leading zeros, then the suffix glued (`6`, `6bis`, `221b`);
//! "n° 6", "no. 6" drop the prefix; a range keeps its first number ("6-8", "6 à 8") and notes
//! the last in [`NormalizedAddress::house_number_end`]. In a street line a glued `2e`/`2o` is an
//! ordinal, not house 2E.
//!
//! Units ("apt 3", "bât B", "suite 200", "#5", "3e étage") and building names given as their
//! own segment ("Le Victoria, 13 bd Princesse Charlotte") go to [`NormalizedAddress::unit`].
//!
//! Postal codes are formatted per country ([`normalize_postal_code`]); countries become ISO
//! 3166-1 alpha-2 codes where the name is known ([`normalize_country`]).
//!
//! The key is `v1|house|street|postal code|city|country`. The unit and the end of a house
//! number range are left out: they do not move the point a geocoder returns, so "6-8 rue X,
//! apt 3" shares its cached answer with "6 rue X".

mod house;
mod line;
mod postal;
mod street;
mod tables;
mod tokens;
mod unit;

#[cfg(test)]
mod tests;

use super::Address;
use house::parse_house_field;
use line::{HouseIn, parse_line};
use postal::{infer_country, is_ca_postcode, parse_city_field, split_uk_postcode};
use street::canonical_street;
use tables::{COUNTRIES, FOUR_DIGIT, PADDED_FIVE_DIGIT};
use tokens::{compact, is_digits, present, strip_letter_prefix, tokenize, words};

/// Bumped whenever a rule change gives an existing address a different key, so that cache rows
/// written under the old rules stop matching.
pub const KEY_VERSION: &str = "v1";

/// Separates the parts of a key. Normalized parts hold only letters, digits, spaces and the
/// dash of a US ZIP+4, so it never appears inside one.
const KEY_SEPARATOR: char = '|';

/// An address in normalized form: lower case, ASCII where the letters allow, one spelling per
/// street type and per number form. Build it with [`normalize`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NormalizedAddress {
    /// `6`, `6bis`, `221b`: the digits without leading zeros, then the suffix.
    pub house_number: Option<String>,
    /// The last number of a range such as "6-8" (`8`); not part of the key.
    pub house_number_end: Option<String>,
    /// Apartment, building, floor, ... and building names ("building b, apartment 3"); not part
    /// of the key.
    pub unit: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 in lower case when known, otherwise the folded name.
    pub country_code: Option<String>,
}

impl NormalizedAddress {
    /// The cache key: `v1|house|street|postal code|city|country`, empty between separators for
    /// a missing part.
    pub fn key(&self) -> String {
        let parts = [
            &self.house_number,
            &self.street,
            &self.postal_code,
            &self.city,
            &self.country_code,
        ];
        let mut key = String::with_capacity(64);
        key.push_str(KEY_VERSION);
        for part in parts {
            key.push(KEY_SEPARATOR);
            if let Some(part) = part {
                key.push_str(part);
            }
        }
        key
    }

    /// Nothing a geocoder could locate: no street, no postal code and no city (a country or a
    /// house number alone is not an address).
    pub fn is_empty(&self) -> bool {
        self.street.is_none() && self.postal_code.is_none() && self.city.is_none()
    }

    /// The normalized street name alone, as [`normalize_street_name`] writes OSM names.
    pub fn street_key(&self) -> Option<String> {
        self.street.clone()
    }
}

/// Normalizes an address. Structured parts win over the free-form `line`; the line fills in
/// whatever they leave missing (a line is split into house number, street, units and, when it
/// carries them, postal code, city and country).
pub fn normalize(q: &Address) -> NormalizedAddress {
    let given_country = present(&q.country_code).and_then(normalize_country);
    let hint = given_country.as_deref();
    let (field_house, mut units) = present(&q.house_number)
        .map(parse_house_field)
        .unwrap_or_default();
    let mut from_street = present(&q.street)
        .map(|s| parse_line(s, hint, HouseIn::Street))
        .unwrap_or_default();
    // A number in the street field that is not the house number field repeated belongs to the
    // street ("Avenue 5" with house number 3).
    if let (Some(given), Some(found)) = (&field_house, &from_street.house)
        && given.text() != found.text()
        && let Some(s) = present(&q.street)
    {
        from_street = parse_line(s, hint, HouseIn::Nowhere);
    }
    let from_line = present(&q.line)
        .map(|s| parse_line(s, hint, HouseIn::Street))
        .unwrap_or_default();
    let (field_city, city_postal) = present(&q.city)
        .map(|c| parse_city_field(c, hint))
        .unwrap_or_default();

    let house = field_house.or(from_street.house).or(from_line.house);
    let street = from_street.street.or(from_line.street);
    let postal = present(&q.postal_code)
        .and_then(compact)
        .or(from_street.postal)
        .or(from_line.postal)
        .or(city_postal);
    let city = field_city.or(from_street.city).or(from_line.city);
    let country = given_country
        .or(from_street.country)
        .or(from_line.country)
        .or_else(|| infer_country(postal.as_deref(), city.as_deref()));
    let postal_code = postal.and_then(|p| normalize_postal_code(&p, country.as_deref()));

    for unit in from_street.units.into_iter().chain(from_line.units) {
        if !units.contains(&unit) {
            units.push(unit);
        }
    }
    let (house_number, house_number_end) = match house {
        Some(h) => (Some(h.text()), h.end),
        None => (None, None),
    };
    NormalizedAddress {
        house_number,
        house_number_end,
        unit: (!units.is_empty()).then(|| units.join(", ")),
        street,
        postal_code,
        city,
        country_code: country,
    }
}

/// Normalizes a street name alone, with the same rules as the street of [`normalize`]: for
/// OpenStreetMap `addr:street` and way `name` values. Empty when nothing is left.
pub fn normalize_street_name(s: &str) -> String {
    canonical_street(&words(&tokenize(s)))
}

/// Normalizes a house number on its own ("6 bis" → `6bis`, "N° 06" → `6`, "6-8" → `6`); `None`
/// when there is none ("", "s/n"). An unusual form is kept folded ("A12" → `a12`).
pub fn normalize_house_number(s: &str) -> Option<String> {
    parse_house_field(s).0.map(|h| h.text())
}

/// Formats a postal code for its country, in lower case: FR, MC, DE, IT and ES as five digits
/// (a leading zero lost by a spreadsheet is restored, a country prefix such as "F-" dropped);
/// US as `12345` or `12345-6789`; GB as outward and inward codes with one space (`sw1a 2aa`); CA
/// as `a1a 1a1`. Anything else keeps its letters and digits only.
pub fn normalize_postal_code(code: &str, country_code: Option<&str>) -> Option<String> {
    let c = compact(code)?;
    let digits = strip_letter_prefix(&c);
    let formatted = match country_code {
        Some(cc) if PADDED_FIVE_DIGIT.contains(&cc) && is_digits(digits) => match digits.len() {
            5 => digits.to_owned(),
            4 => format!("0{digits}"),
            _ => c,
        },
        Some("us") if is_digits(digits) => match digits.len() {
            3..=5 => format!("{digits:0>5}"),
            8 | 9 => {
                let d = format!("{digits:0>9}");
                format!("{}-{}", &d[..5], &d[5..])
            }
            _ => c,
        },
        Some("gb") => match split_uk_postcode(&c) {
            Some((outward, inward)) => format!("{outward} {inward}"),
            None => c,
        },
        Some("ca") if is_ca_postcode(&c) => format!("{} {}", &c[..3], &c[3..]),
        Some(cc) if FOUR_DIGIT.contains(&cc) && digits.len() == 4 && is_digits(digits) => {
            digits.to_owned()
        }
        _ => c,
    };
    Some(formatted)
}

/// A country name or code as ISO 3166-1 alpha-2 in lower case ("France" → `fr`, "UK" → `gb`,
/// "Principauté de Monaco" → `mc`). Any two letters are taken as a code; another unknown name
/// is kept folded so that it still keys consistently.
pub fn normalize_country(s: &str) -> Option<String> {
    let name = words(&tokenize(s)).join(" ");
    if name.is_empty() {
        return None;
    }
    if let Some(code) = COUNTRIES.get(name.as_str()) {
        return Some((*code).to_owned());
    }
    Some(name)
}
