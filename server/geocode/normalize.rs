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

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::AddressQuery;

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
pub fn normalize(q: &AddressQuery) -> NormalizedAddress {
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

// ---------------------------------------------------------------------------------------------
// Tables

/// Where in a street name a type abbreviation is read as that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Only as the first word: French order.
    First,
    /// Only as the last word (before an English direction): English order.
    Last,
    /// First or last.
    Edge,
    /// Anywhere ("rue du Fbg Saint-Honoré").
    Anywhere,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Fr,
    En,
    Both,
}

#[derive(Debug)]
struct StreetType {
    canonical: &'static str,
    lang: Lang,
    at: At,
    abbreviations: &'static [&'static str],
}

const fn street_type(
    canonical: &'static str,
    lang: Lang,
    at: At,
    abbreviations: &'static [&'static str],
) -> StreetType {
    StreetType {
        canonical,
        lang,
        at,
        abbreviations,
    }
}

/// Street types: the canonical word, its language, where its abbreviations are read, and the
/// abbreviations (folded: no accents, no dots). The canonical words themselves also mark a word
/// as a street type for the house-number and direction rules.
const STREET_TYPES: &[StreetType] = &[
    // French (and shared) types, written first.
    street_type("rue", Lang::Fr, At::First, &["r"]),
    street_type(
        "avenue",
        Lang::Both,
        At::Edge,
        &["av", "ave", "avn", "aven", "avenu"],
    ),
    street_type(
        "boulevard",
        Lang::Both,
        At::Edge,
        &["bd", "bld", "blvd", "blv", "boul", "boulv", "bvd"],
    ),
    street_type("place", Lang::Both, At::Edge, &["pl", "plc"]),
    street_type("square", Lang::Both, At::Edge, &["sq", "sqr", "squ"]),
    street_type("route", Lang::Both, At::First, &["rte"]),
    street_type("promenade", Lang::Both, At::Edge, &["prom"]),
    street_type(
        "chemin",
        Lang::Fr,
        At::First,
        &["ch", "chem", "chm", "chmn"],
    ),
    street_type("impasse", Lang::Fr, At::First, &["imp", "impas"]),
    street_type("allee", Lang::Fr, At::First, &["all"]),
    street_type("faubourg", Lang::Fr, At::Anywhere, &["fg", "fbg", "faub"]),
    street_type("quai", Lang::Fr, At::First, &["qu", "qua"]),
    street_type("esplanade", Lang::Fr, At::First, &["esp", "espl"]),
    street_type("cours", Lang::Fr, At::First, &["crs"]),
    street_type("passage", Lang::Fr, At::First, &["pass", "psg", "psge"]),
    street_type("residence", Lang::Fr, At::First, &["res", "resid"]),
    street_type("hameau", Lang::Fr, At::First, &["ham"]),
    street_type("carrefour", Lang::Fr, At::First, &["carr", "crf"]),
    street_type(
        "rond point",
        Lang::Fr,
        At::First,
        &["rpt", "rdpt", "rondpoint"],
    ),
    street_type("sentier", Lang::Fr, At::First, &["sent"]),
    street_type("ruelle", Lang::Fr, At::First, &["rle"]),
    street_type("traverse", Lang::Fr, At::First, &["trav", "tsse"]),
    street_type("montee", Lang::Fr, At::First, &["mte"]),
    street_type("lieu dit", Lang::Fr, At::First, &["ld", "lieudit"]),
    street_type("quartier", Lang::Fr, At::First, &["qrt", "quart"]),
    street_type("galerie", Lang::Fr, At::First, &["gal"]),
    street_type("villa", Lang::Fr, At::First, &["vla"]),
    street_type("domaine", Lang::Fr, At::First, &["dom", "dne"]),
    street_type("parvis", Lang::Fr, At::First, &["parv"]),
    street_type("corniche", Lang::Fr, At::First, &["corn"]),
    street_type("descente", Lang::Fr, At::First, &["desc"]),
    street_type("chaussee", Lang::Fr, At::First, &["chs"]),
    street_type("rampe", Lang::Fr, At::First, &["rpe"]),
    street_type("cite", Lang::Fr, At::First, &[]),
    street_type("voie", Lang::Fr, At::First, &[]),
    street_type("sente", Lang::Fr, At::First, &[]),
    // English types, written last. `st`, `dr` and `rd` have extra rules in `canonical_street`.
    street_type("street", Lang::En, At::Last, &["st", "str", "strt"]),
    street_type("road", Lang::En, At::Last, &["rd"]),
    street_type("drive", Lang::En, At::Last, &["dr", "drv"]),
    street_type("lane", Lang::En, At::Last, &["ln"]),
    street_type("court", Lang::En, At::Last, &["ct", "crt"]),
    street_type("crescent", Lang::En, At::Last, &["cres", "cresc", "crsnt"]),
    street_type("highway", Lang::En, At::Edge, &["hwy", "hway"]),
    street_type("parkway", Lang::En, At::Edge, &["pkwy", "pky", "pkway"]),
    street_type("expressway", Lang::En, At::Edge, &["expy", "expwy"]),
    street_type("freeway", Lang::En, At::Edge, &["fwy"]),
    street_type("terrace", Lang::En, At::Last, &["ter", "terr", "tce"]),
    street_type("close", Lang::En, At::Last, &["cl"]),
    street_type("circle", Lang::En, At::Last, &["cir", "circ"]),
    street_type("way", Lang::En, At::Last, &["wy"]),
    street_type("grove", Lang::En, At::Last, &["gro", "grv"]),
    street_type("gardens", Lang::En, At::Last, &["gdns"]),
    street_type("trail", Lang::En, At::Last, &["trl"]),
    street_type("alley", Lang::En, At::Last, &["aly"]),
    street_type("center", Lang::En, At::Last, &["ctr", "cntr", "centre"]),
    street_type("plaza", Lang::En, At::Last, &["plz"]),
    street_type("heights", Lang::En, At::Last, &["hts"]),
    street_type("junction", Lang::En, At::Last, &["jct"]),
    street_type("crossing", Lang::En, At::Last, &["xing"]),
    street_type("point", Lang::En, At::Last, &["pt"]),
    street_type("walk", Lang::En, At::Last, &["wlk"]),
    street_type("green", Lang::En, At::Last, &["grn"]),
    street_type("park", Lang::En, At::Last, &["pk"]),
    street_type("causeway", Lang::En, At::Last, &["cswy"]),
    street_type("mews", Lang::En, At::Last, &[]),
    street_type("row", Lang::En, At::Last, &[]),
];

/// Abbreviation → its street type.
static TYPE_ABBREVIATIONS: LazyLock<HashMap<&'static str, &'static StreetType>> =
    LazyLock::new(|| {
        STREET_TYPES
            .iter()
            .flat_map(|t| t.abbreviations.iter().map(move |a| (*a, t)))
            .collect()
    });

/// Every word that names a street type (canonical or abbreviated) → its language.
static TYPE_WORDS: LazyLock<HashMap<&'static str, Lang>> = LazyLock::new(|| {
    STREET_TYPES
        .iter()
        .flat_map(|t| {
            // Both words of "rond point" and "lieu dit" mark a street type.
            t.canonical
                .split(' ')
                .chain(t.abbreviations.iter().copied())
                .map(move |w| (w, t.lang))
        })
        .collect()
});

/// Titles and saints inside street names.
static TITLES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    HashMap::from([
        ("st", "saint"),
        ("ste", "sainte"),
        ("sts", "saints"),
        ("stes", "saintes"),
        ("dr", "docteur"),
        ("gal", "general"),
        ("gen", "general"),
        ("gl", "general"),
        ("mal", "marechal"),
        ("pdt", "president"),
        ("cdt", "commandant"),
        ("cmdt", "commandant"),
        ("lt", "lieutenant"),
        ("cne", "capitaine"),
        ("capt", "capitaine"),
        ("mgr", "monseigneur"),
        ("pr", "professeur"),
        ("prof", "professeur"),
        ("gde", "grande"),
        ("gd", "grand"),
        ("jr", "junior"),
    ])
});

/// Compass directions, abbreviated and full, → the full word.
static DIRECTIONS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let pairs = [
        ("n", "north"),
        ("s", "south"),
        ("e", "east"),
        ("w", "west"),
        ("ne", "northeast"),
        ("nw", "northwest"),
        ("se", "southeast"),
        ("sw", "southwest"),
    ];
    pairs
        .iter()
        .flat_map(|&(short, full)| [(short, full), (full, full)])
        .collect()
});

/// Spelled ordinals and Roman "first" ("Albert Ier") → their number.
static ORDINAL_WORDS: LazyLock<HashMap<&'static str, u32>> = LazyLock::new(|| {
    HashMap::from([
        ("premier", 1),
        ("premiere", 1),
        ("first", 1),
        ("ier", 1),
        ("iere", 1),
        ("ire", 1),
        ("second", 2),
        ("seconde", 2),
        ("deuxieme", 2),
        ("troisieme", 3),
        ("third", 3),
        ("quatrieme", 4),
        ("fourth", 4),
        ("cinquieme", 5),
        ("fifth", 5),
        ("sixieme", 6),
        ("sixth", 6),
        ("septieme", 7),
        ("seventh", 7),
        ("huitieme", 8),
        ("eighth", 8),
        ("neuvieme", 9),
        ("ninth", 9),
        ("dixieme", 10),
        ("tenth", 10),
    ])
});

/// What may follow the digits of an ordinal ("1er", "2ème", "3rd", "1°" read as "1o").
const ORDINAL_SUFFIXES: &[&str] = &[
    "er", "ere", "re", "e", "eme", "ieme", "em", "o", "st", "nd", "rd", "th",
];

/// French numbers 1 to 16, in order, for dates written in words ("Huit Mai").
const FR_NUMBERS: &[&str] = &[
    "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze",
    "treize", "quatorze", "quinze", "seize",
];

const MONTHS: &[&str] = &[
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Words before a road number, so that "Route Nationale 7" or "Highway 1" keep their number
/// instead of reading it as a house number.
const ROAD_NUMBER_WORDS: &[&str] = &[
    "rn",
    "rd",
    "n",
    "d",
    "a",
    "m",
    "b",
    "cd",
    "vc",
    "nationale",
    "departementale",
    "autoroute",
    "route",
    "highway",
    "hwy",
    "interstate",
    "i",
    "us",
    "sr",
    "km",
    "exit",
];

/// House number suffixes written as words.
const HOUSE_SUFFIXES: &[&str] = &["bis", "ter", "quater", "quinquies"];

/// Words before a house number: "n° 6", "No. 6", "numéro 6".
const NUMBER_PREFIXES: &[&str] = &["n", "no", "nr", "num", "numero", "number", "nbr"];

/// Words between the two numbers of a range: "6 à 8", "6 et 8", "6 to 8".
const RANGE_WORDS: &[&str] = &["a", "au", "et", "to", "and"];

/// Ways of writing "no house number".
const NO_NUMBER: &[&[&str]] = &[
    &["sn"],
    &["s", "n"],
    &["sans", "numero"],
    &["sans", "num"],
    &["none"],
    &["n", "a"],
    &["na"],
    &["nc"],
];

/// Unit words → (canonical kind, whether the unit's id must hold a digit).
static UNIT_WORDS: LazyLock<HashMap<&'static str, (&'static str, bool)>> = LazyLock::new(|| {
    let kinds: &[(&str, bool, &[&str])] = &[
        (
            "apartment",
            false,
            &[
                "apt",
                "app",
                "appt",
                "appart",
                "apart",
                "appartement",
                "apartement",
                "apartment",
                "flat",
            ],
        ),
        (
            "building",
            false,
            &[
                "bat", "batiment", "building", "bldg", "bloc", "block", "blk",
            ],
        ),
        ("suite", false, &["suite"]),
        ("suite", true, &["ste"]),
        ("unit", false, &["unit"]),
        ("floor", false, &["etage", "floor", "fl", "flr"]),
        ("staircase", false, &["esc", "escalier", "staircase"]),
        ("door", false, &["porte", "door"]),
        ("room", false, &["chambre", "room", "rm"]),
        ("entrance", false, &["entree", "entrance"]),
        ("box", true, &["bp", "cs", "tsa", "box"]),
    ];
    kinds
        .iter()
        .flat_map(|&(kind, digit, words)| words.iter().map(move |w| (*w, (kind, digit))))
        .collect()
});

/// Two-letter words that are not a unit id ("Bât. Le Cristal" is a name, "Bât. B2" a unit).
const NOT_UNIT_IDS: &[&str] = &[
    "le", "la", "de", "du", "en", "au", "un", "et", "of", "on", "at", "to", "in", "da", "di", "do",
];

/// Countries whose postal codes are five digits, padded when a leading zero was lost.
const PADDED_FIVE_DIGIT: &[&str] = &["fr", "mc", "de", "it", "es"];

/// Other countries whose postal codes are five digits.
const FIVE_DIGIT: &[&str] = &["fi", "hr", "ee", "mx", "ma", "tr", "ua", "gr", "se"];

/// Countries whose postal codes are four digits.
const FOUR_DIGIT: &[&str] = &[
    "be", "ch", "lu", "at", "dk", "no", "au", "nz", "hu", "si", "bg", "za", "li", "cy", "tn",
];

/// Country prefixes written before a postal code ("F-06000", "MC 98000").
const POSTAL_PREFIXES: &[&str] = &[
    "f", "fr", "mc", "d", "de", "i", "it", "e", "es", "b", "be", "ch", "l", "lu", "a", "at", "nl",
    "dk", "p", "pt",
];

/// US state codes, dropped from a city written before a ZIP code ("Springfield, IL 62701").
const US_STATES: &[&str] = &[
    "al", "ak", "az", "ar", "ca", "co", "ct", "de", "fl", "ga", "hi", "id", "il", "in", "ia", "ks",
    "ky", "la", "me", "md", "ma", "mi", "mn", "ms", "mo", "mt", "ne", "nv", "nh", "nj", "nm", "ny",
    "nc", "nd", "oh", "ok", "or", "pa", "ri", "sc", "sd", "tn", "tx", "ut", "vt", "va", "wa", "wv",
    "wi", "wy", "dc", "pr",
];

/// Folded country names and codes → ISO 3166-1 alpha-2.
static COUNTRIES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let table: &[(&str, &[&str])] = &[
        (
            "fr",
            &["france", "fra", "republique francaise", "french republic"],
        ),
        (
            "mc",
            &[
                "monaco",
                "mco",
                "principaute de monaco",
                "principality of monaco",
            ],
        ),
        (
            "gb",
            &[
                "uk",
                "gbr",
                "united kingdom",
                "great britain",
                "grande bretagne",
                "royaume uni",
                "england",
                "angleterre",
                "scotland",
                "ecosse",
                "wales",
                "northern ireland",
            ],
        ),
        (
            "us",
            &[
                "usa",
                "united states",
                "united states of america",
                "etats unis",
                "etats unis d amerique",
            ],
        ),
        ("ca", &["canada", "can"]),
        ("de", &["germany", "deutschland", "allemagne", "deu"]),
        ("it", &["italy", "italia", "italie", "ita"]),
        ("es", &["spain", "espana", "espagne", "esp"]),
        ("be", &["belgium", "belgique", "belgie", "bel"]),
        (
            "ch",
            &["switzerland", "suisse", "schweiz", "svizzera", "che"],
        ),
        ("lu", &["luxembourg", "lux"]),
        (
            "nl",
            &[
                "netherlands",
                "the netherlands",
                "nederland",
                "pays bas",
                "nld",
            ],
        ),
        ("pt", &["portugal", "prt"]),
        ("ie", &["ireland", "irlande", "eire", "irl"]),
        ("at", &["austria", "autriche", "osterreich", "aut"]),
        ("ad", &["andorra", "andorre"]),
        ("dk", &["denmark", "danemark", "danmark", "dnk"]),
        ("se", &["sweden", "suede", "sverige", "swe"]),
        ("no", &["norway", "norvege", "norge", "nor"]),
        ("pl", &["poland", "pologne", "polska", "pol"]),
        ("au", &["australia", "australie", "aus"]),
        ("nz", &["new zealand", "nouvelle zelande", "nzl"]),
    ];
    table
        .iter()
        .flat_map(|&(code, names)| names.iter().map(move |n| (*n, code)))
        .collect()
});

/// Every word some rule reads; initials never merge into one of them ("s t" stays apart
/// instead of becoming `st`).
static KNOWN_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    TYPE_WORDS
        .keys()
        .chain(TITLES.keys())
        .chain(DIRECTIONS.keys())
        .chain(ORDINAL_WORDS.keys())
        .chain(UNIT_WORDS.keys())
        .copied()
        .chain(MONTHS.iter().copied())
        .chain(ROAD_NUMBER_WORDS.iter().copied())
        .chain(NUMBER_PREFIXES.iter().copied())
        .chain(HOUSE_SUFFIXES.iter().copied())
        .collect()
});

// ---------------------------------------------------------------------------------------------
// Folding and tokens

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    /// A comma, semicolon or line break: between segments of a free-form line.
    Comma,
    Hash,
    Dash,
    Slash,
    Amp,
}

impl Tok {
    fn word(&self) -> Option<&str> {
        match self {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Compatibility decomposition, accents dropped, lower case, non-decomposing letters spelled.
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        for l in c.to_lowercase() {
            match l {
                'œ' => out.push_str("oe"),
                'æ' => out.push_str("ae"),
                'ß' => out.push_str("ss"),
                'þ' => out.push_str("th"),
                'ø' => out.push('o'),
                'đ' | 'ð' => out.push('d'),
                'ł' => out.push('l'),
                'ı' => out.push('i'),
                'ħ' => out.push('h'),
                'ŧ' => out.push('t'),
                '°' => out.push('o'),
                l if is_combining_mark(l) => {}
                l => out.push(l),
            }
        }
    }
    out
}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '`' | '\u{2018}' | '\u{2019}' | '\u{02bb}' | '\u{02bc}' | '\u{2032}'
    )
}

fn tokenize(s: &str) -> Vec<Tok> {
    let chars: Vec<char> = fold(s).chars().collect();
    let mut toks = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if is_apostrophe(c) {
            let possessive = !word.is_empty()
                && chars.get(i + 1) == Some(&'s')
                && !chars.get(i + 2).is_some_and(|n| n.is_alphanumeric());
            if possessive {
                continue;
            }
        } else if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            toks.push(Tok::Word(std::mem::take(&mut word)));
        }
        let marker = match c {
            ',' | ';' | '\n' | '\r' | '\u{2028}' | '\u{2029}' => Tok::Comma,
            '#' => Tok::Hash,
            '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' => Tok::Dash,
            '/' | '\u{2044}' => Tok::Slash,
            '&' => Tok::Amp,
            _ => continue,
        };
        toks.push(marker);
    }
    if !word.is_empty() {
        toks.push(Tok::Word(word));
    }
    toks
}

fn words(toks: &[Tok]) -> Vec<String> {
    toks.iter()
        .filter_map(|t| t.word().map(str::to_owned))
        .collect()
}

/// Letters and digits only, folded; `None` when nothing is left.
fn compact(s: &str) -> Option<String> {
    let c: String = fold(s).chars().filter(|c| c.is_alphanumeric()).collect();
    (!c.is_empty()).then_some(c)
}

fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn is_digits(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

fn starts_with_digit(w: &str) -> bool {
    w.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

fn is_single_letter(w: &str) -> bool {
    w.len() == 1 && w.as_bytes()[0].is_ascii_lowercase()
}

fn strip_zeros(digits: &str) -> &str {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() && !digits.is_empty() {
        "0"
    } else {
        trimmed
    }
}

/// The leading ASCII digits of a word and the rest.
fn split_digits(w: &str) -> (&str, &str) {
    let n = w.bytes().take_while(u8::is_ascii_digit).count();
    w.split_at(n)
}

/// "f06000" → "06000": up to three letters before digits are a country prefix.
fn strip_letter_prefix(c: &str) -> &str {
    let letters = c.bytes().take_while(u8::is_ascii_lowercase).count();
    let rest = &c[letters..];
    if (1..=3).contains(&letters) && is_digits(rest) {
        rest
    } else {
        c
    }
}

fn type_lang(w: &str) -> Option<Lang> {
    TYPE_WORDS.get(w).copied()
}

fn is_english_type(w: &str) -> bool {
    matches!(type_lang(w), Some(Lang::En | Lang::Both))
}

// ---------------------------------------------------------------------------------------------
// Ordinals and numbers

/// The number of an ordinal word ("1er", "2ème", "3rd", "premier", "Ier"), without zeros.
fn ordinal_number(w: &str) -> Option<String> {
    let (digits, suffix) = split_digits(w);
    if !digits.is_empty() {
        return ORDINAL_SUFFIXES
            .contains(&suffix)
            .then(|| strip_zeros(digits).to_owned());
    }
    ORDINAL_WORDS.get(w).map(u32::to_string)
}

fn canonical_ordinal(number: &str) -> String {
    if number == "1" {
        "1er".to_owned()
    } else {
        format!("{number}e")
    }
}

/// A French number in words at `words[i]` ("huit", "dix huit", "vingt et un"): its value and
/// how many words it takes.
fn french_number(words: &[String], i: usize) -> Option<(u32, usize)> {
    let unit = |w: Option<&String>, max: u32| {
        let w = w?;
        let value = FR_NUMBERS.iter().position(|n| *n == w.as_str())? as u32 + 1;
        (value <= max).then_some(value)
    };
    let base = match words.get(i)?.as_str() {
        "dix" => {
            return Some(match words.get(i + 1).map(String::as_str) {
                Some("sept") => (17, 2),
                Some("huit") => (18, 2),
                Some("neuf") => (19, 2),
                _ => (10, 1),
            });
        }
        "vingt" => 20,
        "trente" => 30,
        _ => return unit(words.get(i), 16).map(|v| (v, 1)),
    };
    if words.get(i + 1).is_some_and(|w| w == "et") && words.get(i + 2).is_some_and(|w| w == "un") {
        return Some((base + 1, 3));
    }
    match unit(words.get(i + 1), 9) {
        Some(u) if u >= 2 => Some((base + u, 2)),
        _ => Some((base, 1)),
    }
}

/// Days before a month become bare numbers: "premier mai", "1er mai", "huit mai" → "1 mai",
/// "8 mai".
fn date_numbers(raw: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let day = if let Some(n) = ordinal_number(&raw[i]) {
            Some((n, 1))
        } else if is_digits(&raw[i]) {
            Some((strip_zeros(&raw[i]).to_owned(), 1))
        } else {
            french_number(raw, i).map(|(v, len)| (v.to_string(), len))
        };
        match day {
            Some((n, len))
                if raw
                    .get(i + len)
                    .is_some_and(|m| MONTHS.contains(&m.as_str())) =>
            {
                out.push(n);
                i += len;
            }
            _ => {
                out.push(raw[i].clone());
                i += 1;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Street names

fn canonical_street(raw: &[String]) -> String {
    let mut w = date_numbers(raw);
    for word in &mut w {
        if let Some(stem) = word.strip_suffix("str")
            && stem.len() >= 2
        {
            *word = format!("{stem}strasse");
        }
    }
    // Two-word types ("rpt" → "rond point") are spelled out first, so that the rules below see
    // the same words whichever way the type was written.
    if w.len() >= 2
        && let Some(t) = TYPE_ABBREVIATIONS.get(w[0].as_str())
        && t.canonical.contains(' ')
    {
        let spelled = t.canonical.split(' ').map(str::to_owned);
        w.splice(0..1, spelled);
    }
    let n = w.len();
    if n == 0 {
        return String::new();
    }
    let last_direction =
        n >= 3 && DIRECTIONS.contains_key(w[n - 1].as_str()) && is_english_type(&w[n - 2]);
    let type_at = if last_direction { n - 2 } else { n - 1 };
    let english_tail = n >= 2 && type_lang(&w[type_at]) == Some(Lang::En);
    let first_direction =
        n >= 3 && DIRECTIONS.contains_key(w[0].as_str()) && is_english_type(&w[type_at]);

    let mut out = Vec::with_capacity(n);
    for (i, word) in w.iter().enumerate() {
        let word = word.as_str();
        let before_number = w.get(i + 1).is_some_and(|x| starts_with_digit(x));
        let rewritten = if let Some(number) = ordinal_number(word) {
            canonical_ordinal(&number)
        } else if is_digits(word) {
            strip_zeros(word).to_owned()
        } else {
            let direction = (i == 0 && first_direction) || (i == n - 1 && last_direction);
            let replacement = if direction {
                DIRECTIONS.get(word).copied()
            } else if n >= 2 && i == 0 {
                leading_type(word, english_tail)
            } else if n >= 2 && i == type_at {
                trailing_type(word, before_number)
            } else {
                None
            };
            replacement
                .or_else(|| inner_word(word))
                .unwrap_or(word)
                .to_owned()
        };
        out.push(rewritten);
    }
    merge_initials(out).join(" ")
}

/// A street type read as the first word ("av" → "avenue", "r" → "rue").
fn leading_type(word: &str, english_tail: bool) -> Option<&'static str> {
    if matches!(word, "st" | "dr" | "rd") {
        return None;
    }
    let t = TYPE_ABBREVIATIONS.get(word)?;
    let placed = matches!(t.at, At::First | At::Edge | At::Anywhere);
    (placed && !(english_tail && t.lang == Lang::Fr)).then_some(t.canonical)
}

/// A street type read as the last word ("st" → "street", "rd" → "road").
fn trailing_type(word: &str, before_number: bool) -> Option<&'static str> {
    match word {
        "st" => Some("street"),
        "dr" => Some("drive"),
        "rd" if before_number => None,
        _ => TYPE_ABBREVIATIONS
            .get(word)
            .filter(|t| matches!(t.at, At::Last | At::Edge | At::Anywhere))
            .map(|t| t.canonical),
    }
}

/// Abbreviations read anywhere: the few unambiguous street types, then titles and saints.
fn inner_word(word: &str) -> Option<&'static str> {
    match TYPE_ABBREVIATIONS.get(word) {
        Some(t) if t.at == At::Anywhere => Some(t.canonical),
        _ => TITLES.get(word).copied(),
    }
}

/// "j f kennedy" → "jf kennedy", unless the merged letters would read as a known word.
fn merge_initials(words: Vec<String>) -> Vec<String> {
    fn flush(run: &mut Vec<String>, out: &mut Vec<String>) {
        if run.len() >= 2 {
            let merged = run.concat();
            if !KNOWN_WORDS.contains(merged.as_str()) {
                out.push(merged);
                run.clear();
                return;
            }
        }
        out.append(run);
    }
    let mut out = Vec::with_capacity(words.len());
    let mut run = Vec::new();
    for w in words {
        if is_single_letter(&w) {
            run.push(w);
        } else {
            flush(&mut run, &mut out);
            out.push(w);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn canonical_city(raw: &[String]) -> Option<String> {
    let mut out: Vec<&str> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let w = raw[i].as_str();
        i += 1;
        match w {
            // A CEDEX is a mail-routing code, not a place.
            "cedex" => {
                while raw.get(i).is_some_and(|d| is_digits(d)) {
                    i += 1;
                }
            }
            "arrondissement" | "arrdt" | "arr" => {}
            "st" => out.push("saint"),
            "ste" => out.push("sainte"),
            "sts" => out.push("saints"),
            "stes" => out.push("saintes"),
            _ if is_digits(w) => out.push(strip_zeros(w)),
            _ => match split_digits(w) {
                (digits, suffix) if !digits.is_empty() && ORDINAL_SUFFIXES.contains(&suffix) => {
                    out.push(strip_zeros(digits));
                }
                _ => out.push(w),
            },
        }
    }
    (!out.is_empty()).then(|| out.join(" "))
}

// ---------------------------------------------------------------------------------------------
// House numbers

#[derive(Debug, Clone, PartialEq, Eq)]
struct House {
    number: String,
    suffix: Option<String>,
    end: Option<String>,
}

impl House {
    fn text(&self) -> String {
        match &self.suffix {
            Some(s) => format!("{}{s}", self.number),
            None => self.number.clone(),
        }
    }
}

/// Where a house number is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The house number field: anything number-like is the house number.
    Field,
    /// The start of a street line ("6 quai ...").
    Lead,
    /// The end of a street line ("Via Roma 12").
    Trail,
}

/// "6", "6b", "6bis" → number and suffix. In a line, "2e" and "2o" are ordinals.
fn house_head(w: &str, ctx: Ctx) -> Option<(String, Option<String>)> {
    let (digits, rest) = split_digits(w);
    if digits.is_empty() {
        return None;
    }
    let suffix = if rest.is_empty() {
        None
    } else if HOUSE_SUFFIXES.contains(&rest)
        || (is_single_letter(rest) && (ctx == Ctx::Field || !matches!(rest, "e" | "o")))
    {
        Some(rest.to_owned())
    } else {
        return None;
    };
    Some((strip_zeros(digits).to_owned(), suffix))
}

/// Reads a house number starting at `toks[start]`: the number, its suffix, a range. Returns it
/// and the index after it.
fn parse_house(toks: &[Tok], start: usize, ctx: Ctx) -> Option<(House, usize)> {
    let word_at = |i: usize| toks.get(i).and_then(Tok::word);
    let mut i = start;
    let first = word_at(i)?;
    let (number, mut suffix) = if NUMBER_PREFIXES.contains(&first) {
        i += 1;
        house_head(word_at(i)?, ctx)?
    } else if let Some(head) = house_head(first, ctx) {
        head
    } else {
        // Glued prefix: "no6", "n6".
        NUMBER_PREFIXES.iter().find_map(|p| {
            first
                .strip_prefix(p)
                .filter(|rest| starts_with_digit(rest))
                .and_then(|rest| house_head(rest, ctx))
        })?
    };
    i += 1;
    // "8 Mai 1945" is a date naming the street, not house 8.
    if ctx != Ctx::Field && word_at(i).is_some_and(|m| MONTHS.contains(&m)) {
        return None;
    }

    if suffix.is_none() {
        let j = if toks.get(i) == Some(&Tok::Dash) {
            i + 1
        } else {
            i
        };
        if let Some(w) = word_at(j) {
            let is_suffix = HOUSE_SUFFIXES.contains(&w)
                || (is_single_letter(w)
                    && !starts_range(toks, j)
                    && letter_is_suffix(toks, j, ctx));
            if is_suffix {
                suffix = Some(w.to_owned());
                i = j + 1;
            }
        }
    }

    let mut end = None;
    let j = match toks.get(i) {
        Some(Tok::Dash | Tok::Slash | Tok::Amp) => Some(i + 1),
        Some(Tok::Word(w)) if RANGE_WORDS.contains(&w.as_str()) => Some(i + 1),
        // "12 14 rue X": a second bare number right after the first is read as a range too
        // (a street's name starts with a word; "12 8 Mai" is a date).
        Some(Tok::Word(w))
            if ctx != Ctx::Trail
                && w.len() <= 4
                && is_digits(w)
                && !word_at(i + 1).is_some_and(|m| MONTHS.contains(&m)) =>
        {
            Some(i)
        }
        _ => None,
    };
    if let Some(j) = j
        && let Some(w) = word_at(j)
        && house_head(w, Ctx::Field).is_some()
    {
        let last = strip_zeros(split_digits(w).0);
        if last != number {
            end = Some(last.to_owned());
        }
        i = j + 1;
    }
    Some((
        House {
            number,
            suffix,
            end,
        },
        i,
    ))
}

/// "6 a 8": the word at `j` joins a range.
fn starts_range(toks: &[Tok], j: usize) -> bool {
    let joins = toks
        .get(j)
        .and_then(Tok::word)
        .is_some_and(|w| RANGE_WORDS.contains(&w));
    joins
        && toks
            .get(j + 1)
            .and_then(Tok::word)
            .is_some_and(starts_with_digit)
}

/// Whether the single letter at `toks[j]`, after a number, is that number's suffix ("6 b")
/// rather than the start of the street ("6 r de la Paix", "12 E Main St", "12 J F Kennedy").
fn letter_is_suffix(toks: &[Tok], j: usize, ctx: Ctx) -> bool {
    let Some(letter) = toks.get(j).and_then(Tok::word) else {
        return false;
    };
    let next = toks[j + 1..].iter().find_map(Tok::word);
    match ctx {
        Ctx::Field => true,
        Ctx::Trail => next.is_none(),
        Ctx::Lead => match next {
            None => true,
            Some(_) if letter == "r" => false,
            Some(next) if matches!(letter, "n" | "s" | "e" | "w") => {
                matches!(type_lang(next), Some(Lang::Fr | Lang::Both))
            }
            Some(next) => !is_single_letter(next) || next == "r",
        },
    }
}

fn parse_house_field(s: &str) -> (Option<House>, Vec<String>) {
    let (toks, units) = extract_units(&tokenize(s));
    let ws = words(&toks);
    if ws.is_empty()
        || NO_NUMBER.contains(&ws.iter().map(String::as_str).collect::<Vec<_>>().as_slice())
    {
        return (None, units);
    }
    let house = parse_house(&toks, 0, Ctx::Field)
        .map(|(h, _)| h)
        .unwrap_or_else(|| House {
            number: ws.concat(),
            suffix: None,
            end: None,
        });
    (Some(house), units)
}

// ---------------------------------------------------------------------------------------------
// Units

/// Removes units ("apt 3", "bât B", "#5", "3e étage") from a token list.
fn extract_units(toks: &[Tok]) -> (Vec<Tok>, Vec<String>) {
    let mut kept = Vec::with_capacity(toks.len());
    let mut units = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if let Some((unit, used)) = unit_at(toks, i) {
            units.push(unit);
            i += used;
        } else {
            kept.push(toks[i].clone());
            i += 1;
        }
    }
    (kept, units)
}

fn unit_at(toks: &[Tok], i: usize) -> Option<(String, usize)> {
    let word_at = |k: usize| toks.get(k).and_then(Tok::word);
    if toks.get(i) == Some(&Tok::Hash) {
        let id = word_at(i + 1)?;
        return Some((format!("unit {}", unit_id(id)), 2));
    }
    let w = word_at(i)?;
    let next = word_at(i + 1);
    match (w, next) {
        ("rdc", _) => return Some(("floor 0".to_owned(), 1)),
        ("rez", Some("de")) if word_at(i + 2) == Some("chaussee") => {
            return Some(("floor 0".to_owned(), 3));
        }
        ("ground", Some("floor")) => return Some(("floor 0".to_owned(), 2)),
        (_, Some("etage" | "floor")) => {
            if let Some(n) = ordinal_number(w) {
                return Some((format!("floor {n}"), 2));
            }
        }
        _ => {}
    }
    let (skip, keyword) = match (w, next, word_at(i + 2)) {
        ("po", Some("box"), _) => (1, "box"),
        ("p", Some("o"), Some("box")) => (2, "box"),
        _ => (0, w),
    };
    let &(kind, digit_id) = UNIT_WORDS.get(keyword)?;
    let mut j = i + skip + 1;
    if toks.get(j) == Some(&Tok::Dash) {
        j += 1;
    }
    let mut id = word_at(j)?;
    if NUMBER_PREFIXES.contains(&id)
        && let Some(after) = word_at(j + 1)
        && after.bytes().any(|b| b.is_ascii_digit())
    {
        id = after;
        j += 1;
    }
    let has_digit = id.bytes().any(|b| b.is_ascii_digit());
    let id_ok = has_digit
        || (!digit_id
            && (is_single_letter(id)
                || (id.len() == 2 && id.is_ascii() && !NOT_UNIT_IDS.contains(&id))));
    id_ok.then(|| (format!("{kind} {}", unit_id(id)), j + 1 - i))
}

fn unit_id(id: &str) -> &str {
    if is_digits(id) { strip_zeros(id) } else { id }
}

// ---------------------------------------------------------------------------------------------
// Postal codes and countries

fn is_uk_outward(s: &str) -> bool {
    (2..=4).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_uk_inward(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 3 && b[0].is_ascii_digit() && b[1].is_ascii_lowercase() && b[2].is_ascii_lowercase()
}

/// "sw1a2aa" → ("sw1a", "2aa").
fn split_uk_postcode(c: &str) -> Option<(&str, &str)> {
    if !(5..=7).contains(&c.len()) || !c.is_ascii() {
        return None;
    }
    let (outward, inward) = c.split_at(c.len() - 3);
    (is_uk_outward(outward) && is_uk_inward(inward)).then_some((outward, inward))
}

fn is_ca_postcode(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() == 6
        && b.iter().enumerate().all(|(k, x)| {
            if k % 2 == 0 {
                x.is_ascii_lowercase()
            } else {
                x.is_ascii_digit()
            }
        })
}

/// A postal code starting at `words[i]`: its compact form and how many words it takes.
/// `loose` also accepts the shorter forms that are only safe after the street (four digits).
fn postal_at(
    words: &[String],
    i: usize,
    country: Option<&str>,
    loose: bool,
) -> Option<(String, usize)> {
    let w = words.get(i)?.as_str();
    let next = words.get(i + 1).map(String::as_str);
    let digits = |len: usize| w.len() == len && is_digits(w);
    let uk = || {
        if let Some(n) = next
            && is_uk_outward(w)
            && is_uk_inward(n)
        {
            return Some((format!("{w}{n}"), 2));
        }
        split_uk_postcode(w).map(|_| (w.to_owned(), 1))
    };
    let ca = || {
        if let Some(n) = next
            && w.len() == 3
            && n.len() == 3
            && is_ca_postcode(&format!("{w}{n}"))
        {
            return Some((format!("{w}{n}"), 2));
        }
        is_ca_postcode(w).then(|| (w.to_owned(), 1))
    };
    match country {
        Some("gb") => uk(),
        Some("ca") => ca(),
        Some("us") | None => {
            if digits(5) {
                return Some(match next {
                    Some(n) if n.len() == 4 && is_digits(n) => (format!("{w}{n}"), 2),
                    _ => (w.to_owned(), 1),
                });
            }
            if country.is_some() {
                return digits(9).then(|| (w.to_owned(), 1));
            }
            if loose
                && digits(2)
                && let Some(n) = next
                && n.len() == 3
                && is_digits(n)
            {
                return Some((format!("{w}{n}"), 2));
            }
            uk().or_else(ca)
                .or_else(|| (loose && digits(4)).then(|| (w.to_owned(), 1)))
        }
        Some(c) if PADDED_FIVE_DIGIT.contains(&c) || FIVE_DIGIT.contains(&c) => {
            if digits(2)
                && let Some(n) = next
                && n.len() == 3
                && is_digits(n)
            {
                // "75 001": the French habit of a thousands space.
                return Some((format!("{w}{n}"), 2));
            }
            (digits(5) || (loose && digits(4))).then(|| (w.to_owned(), 1))
        }
        Some(c) if FOUR_DIGIT.contains(&c) => digits(4).then(|| (w.to_owned(), 1)),
        Some("nl") if digits(4) => Some(match next {
            Some(n) if n.len() == 2 && n.bytes().all(|b| b.is_ascii_lowercase()) => {
                (format!("{w}{n}"), 2)
            }
            _ => (w.to_owned(), 1),
        }),
        Some(_) => (loose && (3..=7).contains(&w.len()) && is_digits(w)).then(|| (w.to_owned(), 1)),
    }
}

/// The first postal code at or after `from`: compact form, start, length in words.
fn find_postal(
    words: &[String],
    from: usize,
    country: Option<&str>,
    loose: bool,
) -> Option<(String, usize, usize)> {
    (from..words.len())
        .find_map(|i| postal_at(words, i, country, loose).map(|(raw, len)| (raw, i, len)))
}

/// Removes the postal code at `start..start + len` and what belongs to it (a country prefix
/// such as "F-", a US state before a ZIP code), leaving the city's words.
fn city_around_postal(
    words: &[String],
    start: usize,
    len: usize,
    country: Option<&str>,
) -> Vec<String> {
    let mut before = &words[..start];
    if let Some(prev) = before.last()
        && (POSTAL_PREFIXES.contains(&prev.as_str())
            || (matches!(country, None | Some("us")) && US_STATES.contains(&prev.as_str())))
    {
        before = &before[..before.len() - 1];
    }
    before
        .iter()
        .chain(&words[start + len..])
        .cloned()
        .collect()
}

/// A line segment that names a country ("France", "UK"); bare two-letter codes are not taken
/// here because a US state ("CA") looks the same.
fn country_of_segment(ws: &[String]) -> Option<&'static str> {
    let name = ws.join(" ");
    if name.len() <= 2 && name != "uk" && name != "us" {
        return None;
    }
    match name.as_str() {
        "us" => Some("us"),
        _ => COUNTRIES.get(name.as_str()).copied(),
    }
}

fn infer_country(postal: Option<&str>, city: Option<&str>) -> Option<String> {
    let monaco_postal = postal.and_then(compact).is_some_and(|p| {
        let d = strip_letter_prefix(&p);
        d.len() == 5 && is_digits(d) && d.starts_with("980")
    });
    (monaco_postal || matches!(city, Some("monaco" | "monte carlo"))).then(|| "mc".to_owned())
}

fn parse_city_field(c: &str, country: Option<&str>) -> (Option<String>, Option<String>) {
    let ws = words(&tokenize(c));
    match find_postal(&ws, 0, country, false) {
        Some((raw, start, len)) if start == 0 || start + len == ws.len() => {
            let rest = city_around_postal(&ws, start, len, country);
            (canonical_city(&rest), Some(raw))
        }
        _ => (canonical_city(&ws), None),
    }
}

// ---------------------------------------------------------------------------------------------
// Free-form lines

#[derive(Debug, Default)]
struct Parsed {
    house: Option<House>,
    street: Option<String>,
    units: Vec<String>,
    postal: Option<String>,
    city: Option<String>,
    country: Option<String>,
}

impl Parsed {
    /// A segment after the street: postal code and city, a late house number, or a region.
    fn read_locality(&mut self, seg: &[Tok], country: Option<&str>) {
        if self.house.is_none()
            && let Some((h, used)) = parse_house(seg, 0, Ctx::Lead)
            && seg[used..].iter().all(|t| t.word().is_none())
        {
            self.house = Some(h);
            return;
        }
        let ws = words(seg);
        let city_words = match find_postal(&ws, 0, country, true) {
            Some((raw, start, len)) => {
                self.postal.get_or_insert(raw);
                city_around_postal(&ws, start, len, country)
            }
            None => ws,
        };
        if self.city.is_none() {
            self.city = canonical_city(&city_words);
        }
    }
}

/// A segment that holds only a postal code and a city ("98000 Monaco", "London SW1A 2AA").
fn is_locality(seg: &[Tok], country: Option<&str>) -> bool {
    let ws = words(seg);
    if ws.iter().any(|w| type_lang(w).is_some()) {
        return false;
    }
    find_postal(&ws, 0, country, false)
        .is_some_and(|(_, start, len)| start == 0 || start + len == ws.len())
}

/// A segment that is only a house number ("6" in "6, quai Antoine Ier").
fn is_house_only(seg: &[Tok]) -> bool {
    parse_house(seg, 0, Ctx::Lead)
        .is_some_and(|(_, used)| seg[used..].iter().all(|t| t.word().is_none()))
}

/// Whether a street segment may hold the house number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HouseIn {
    Street,
    Nowhere,
}

fn parse_line(s: &str, country_hint: Option<&str>, house_in: HouseIn) -> Parsed {
    let mut out = Parsed::default();
    let mut segments: Vec<Vec<Tok>> = Vec::new();
    for seg in tokenize(s).split(|t| *t == Tok::Comma) {
        let (kept, units) = extract_units(seg);
        out.units.extend(units);
        if kept.iter().any(|t| t.word().is_some()) {
            segments.push(kept);
        }
    }
    if segments.len() >= 2
        && let Some(code) = segments
            .last()
            .and_then(|seg| country_of_segment(&words(seg)))
    {
        out.country = Some(code.to_owned());
        segments.pop();
    }
    let country = country_hint
        .map(str::to_owned)
        .or_else(|| out.country.clone());
    let country = country.as_deref();

    // A lone house number belongs to the segment after it, unless that one is a locality.
    let mut merged: Vec<Vec<Tok>> = Vec::with_capacity(segments.len());
    let mut pending: Option<Vec<Tok>> = None;
    for seg in segments {
        let seg = match pending.take() {
            Some(mut number) if !is_locality(&seg, country) => {
                number.extend(seg);
                number
            }
            Some(number) => {
                merged.push(number);
                seg
            }
            None => seg,
        };
        if is_house_only(&seg) {
            pending = Some(seg);
        } else {
            merged.push(seg);
        }
    }
    merged.extend(pending);

    let locality: Vec<bool> = merged.iter().map(|s| is_locality(s, country)).collect();
    let street_at = (0..merged.len())
        .find(|&k| {
            !locality[k]
                && parse_house(&merged[k], 0, Ctx::Lead)
                    .is_some_and(|(_, used)| merged[k][used..].iter().any(|t| t.word().is_some()))
        })
        .or_else(|| {
            (0..merged.len()).find(|&k| {
                let ws = words(&merged[k]);
                !locality[k]
                    && (ws.first().is_some_and(|w| type_lang(w).is_some())
                        || ws.last().is_some_and(|w| type_lang(w).is_some()))
            })
        })
        .or_else(|| (0..merged.len()).find(|&k| !locality[k]));

    for (k, seg) in merged.iter().enumerate() {
        match street_at {
            Some(s) if k == s && house_in == HouseIn::Nowhere => {
                out.street = non_empty(canonical_street(&words(seg)));
            }
            Some(s) if k == s => read_street_segment(seg, country, &mut out),
            // Before the street: a building or residence name.
            Some(s) if k < s && !locality[k] => out.units.push(words(seg).join(" ")),
            _ => out.read_locality(seg, country),
        }
    }
    if out.city.is_none() && out.country.as_deref() == Some("mc") {
        out.city = Some("monaco".to_owned());
    }
    out
}

/// The street segment: a house number first ("6 quai ...", possibly followed by a postal code
/// and city without a comma) or last ("Via Roma 12"), and the street name.
fn read_street_segment(seg: &[Tok], country: Option<&str>, out: &mut Parsed) {
    if let Some((house, used)) = parse_house(seg, 0, Ctx::Lead) {
        out.house = Some(house);
        let mut ws = words(&seg[used..]);
        if let Some((raw, start, len)) = find_postal(&ws, 1, country, false) {
            let mut tail = ws.split_off(start);
            let mut city_words = tail.split_off(len);
            if ws.len() >= 2
                && ws
                    .last()
                    .is_some_and(|p| POSTAL_PREFIXES.contains(&p.as_str()))
            {
                ws.pop();
            }
            if let Some(last) = city_words.last()
                && city_words.len() >= 2
                && let Some(code) = COUNTRIES.get(last.as_str())
            {
                out.country.get_or_insert_with(|| (*code).to_owned());
                city_words.pop();
            }
            out.postal = Some(raw);
            out.city = canonical_city(&city_words);
        }
        out.street = non_empty(canonical_street(&ws));
        return;
    }
    for j in 1..seg.len() {
        let head = words(&seg[..j]);
        let Some(prev) = head.last() else {
            continue;
        };
        if MONTHS.contains(&prev.as_str()) || ROAD_NUMBER_WORDS.contains(&prev.as_str()) {
            continue;
        }
        if let Some((house, used)) = parse_house(seg, j, Ctx::Trail)
            && seg[used..].iter().all(|t| t.word().is_none())
        {
            out.house = Some(house);
            out.street = non_empty(canonical_street(&head));
            return;
        }
    }
    out.street = non_empty(canonical_street(&words(seg)));
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn line(l: &str) -> AddressQuery {
        AddressQuery {
            line: Some(l.to_owned()),
            ..AddressQuery::default()
        }
    }

    fn structured(
        house: Option<&str>,
        street: &str,
        postal: Option<&str>,
        city: Option<&str>,
        country: Option<&str>,
    ) -> AddressQuery {
        AddressQuery {
            line: None,
            house_number: house.map(str::to_owned),
            street: Some(street.to_owned()),
            postal_code: postal.map(str::to_owned),
            city: city.map(str::to_owned),
            country_code: country.map(str::to_owned),
        }
    }

    fn key(q: &AddressQuery) -> String {
        normalize(q).key()
    }

    #[test]
    fn key_is_versioned_ordered_and_leaves_missing_parts_empty() {
        let n = NormalizedAddress {
            house_number: Some("6".into()),
            house_number_end: Some("8".into()),
            unit: Some("apartment 3".into()),
            street: Some("quai antoine 1er".into()),
            postal_code: None,
            city: Some("monaco".into()),
            country_code: Some("mc".into()),
        };
        assert_eq!(n.key(), "v1|6|quai antoine 1er||monaco|mc");
        assert_eq!(NormalizedAddress::default().key(), "v1|||||");
    }

    #[test]
    fn quai_antoine_premier_spellings_share_one_key() {
        let expected = "v1|6|quai antoine 1er|98000|monaco|mc";
        assert_eq!(key(&line("6 Quai Antoine 1er, 98000 Monaco")), expected);
        assert_eq!(key(&line("6, quai Antoine Ier, 98000 MONACO")), expected);
        assert_eq!(key(&line("6 QUAI ANTOINE 1ER 98000 MONACO")), expected);
        assert_eq!(
            key(&line("6 quai Antoine Premier, Monaco")),
            "v1|6|quai antoine 1er||monaco|mc"
        );
        let q = AddressQuery {
            line: Some("6, quai Antoine Ier".into()),
            postal_code: Some("98 000".into()),
            city: Some("Monaco".into()),
            country_code: Some("MC".into()),
            ..AddressQuery::default()
        };
        assert_eq!(key(&q), expected);
        let q = structured(
            Some("6"),
            "Qu. Antoine 1°",
            Some("MC-98000"),
            Some("MONACO CEDEX"),
            Some("Monaco"),
        );
        assert_eq!(key(&q), expected);
    }

    #[test]
    fn french_street_types_expand_to_one_word() {
        let same = |a: &str, b: &str| {
            assert_eq!(
                normalize_street_name(a),
                normalize_street_name(b),
                "{a} / {b}"
            )
        };
        same("Av. de la Costa", "Avenue de la Costa");
        same("AVE DE LA COSTA", "avenue de la costa");
        same("Bd des Moulins", "boulevard des moulins");
        same("Bld. des Moulins", "Boulevard des Moulins");
        same("R. de la Paix", "rue de la paix");
        same("Ch. des Révoires", "Chemin des Revoires");
        same("Imp. du Port", "Impasse du Port");
        same("All. des Pins", "Allée des Pins");
        same("Rte de la Turbie", "Route de la Turbie");
        same("Fbg Saint-Honoré", "Faubourg St Honore");
        same("Rue du Fbg St-Antoine", "Rue du Faubourg Saint Antoine");
        same("Esp. des Frères", "Esplanade des Freres");
        same("Crs Mirabeau", "Cours Mirabeau");
        same("Pass. Grimaldi", "Passage Grimaldi");
        same("Pl. d'Armes", "Place d'Armes");
        same("Sq. Gastaud", "Square Gastaud");
        same("Rpt du Portier", "Rond-Point du Portier");
        assert_eq!(
            normalize_street_name("Av. de la Costa"),
            "avenue de la costa"
        );
        assert_eq!(
            normalize_street_name("Bd des Moulins"),
            "boulevard des moulins"
        );
    }

    #[test]
    fn short_french_abbreviations_only_expand_as_the_first_word() {
        assert_eq!(normalize_street_name("R de la Paix"), "rue de la paix");
        assert_eq!(normalize_street_name("Place R"), "place r");
        assert_eq!(normalize_street_name("All des Pins"), "allee des pins");
        assert_eq!(normalize_street_name("Chemin de All"), "chemin de all");
        assert_eq!(normalize_street_name("All Saints Road"), "all saints road");
    }

    #[test]
    fn english_street_types_expand_as_the_last_word() {
        assert_eq!(normalize_street_name("Baker St."), "baker street");
        assert_eq!(normalize_street_name("Abbey Rd"), "abbey road");
        assert_eq!(normalize_street_name("Mulholland Dr"), "mulholland drive");
        assert_eq!(normalize_street_name("Drury Ln"), "drury lane");
        assert_eq!(
            normalize_street_name("Pacific Coast Hwy"),
            "pacific coast highway"
        );
        assert_eq!(normalize_street_name("Hwy 101"), "highway 101");
        assert_eq!(
            normalize_street_name("Blue Ridge Pkwy"),
            "blue ridge parkway"
        );
        assert_eq!(normalize_street_name("Royal Cres"), "royal crescent");
        assert_eq!(normalize_street_name("Pudding Ct"), "pudding court");
        assert_eq!(normalize_street_name("Berkeley Sq"), "berkeley square");
        assert_eq!(normalize_street_name("Main St N"), "main street north");
        assert_eq!(normalize_street_name("N Main St"), "north main street");
        assert_eq!(normalize_street_name("Park Ave"), "park avenue");
    }

    #[test]
    fn st_and_dr_depend_on_their_place() {
        assert_eq!(normalize_street_name("St Mary's Rd"), "saint marys road");
        assert_eq!(
            normalize_street_name("Saint Marys Road"),
            "saint marys road"
        );
        assert_eq!(normalize_street_name("Av. St Roman"), "avenue saint roman");
        assert_eq!(normalize_street_name("Ste-Dévote"), "sainte devote");
        assert_eq!(normalize_street_name("Sainte Devote"), "sainte devote");
        assert_eq!(
            normalize_street_name("Rue du Dr Roux"),
            "rue du docteur roux"
        );
        assert_eq!(
            normalize_street_name("Bd du Gal Leclerc"),
            "boulevard du general leclerc"
        );
        assert_eq!(
            normalize_street_name("Av. du Mal Foch"),
            "avenue du marechal foch"
        );
        assert_eq!(normalize_street_name("RD 6098"), "rd 6098");
        assert_eq!(normalize_street_name("Route RD 559"), "route rd 559");
    }

    #[test]
    fn ordinals_have_one_form() {
        let first = normalize_street_name("Quai Antoine 1er");
        assert_eq!(first, "quai antoine 1er");
        for s in [
            "Quai Antoine Ier",
            "quai antoine premier",
            "Quai Antoine 1°",
            "Quai Antoine 1ère",
            "Quai Antoine 1st",
        ] {
            assert_eq!(normalize_street_name(s), first, "{s}");
        }
        assert_eq!(normalize_street_name("2nd Avenue"), "2e avenue");
        assert_eq!(normalize_street_name("Second Ave"), "2e avenue");
        assert_eq!(normalize_street_name("2ème Avenue"), "2e avenue");
        assert_eq!(
            normalize_street_name("Boulevard Albert Ier"),
            "boulevard albert 1er"
        );
    }

    #[test]
    fn days_before_a_month_are_bare_numbers() {
        let may = normalize_street_name("Rue du 1er Mai");
        assert_eq!(may, "rue du 1 mai");
        assert_eq!(normalize_street_name("Rue du Premier Mai"), may);
        assert_eq!(normalize_street_name("rue du 1° mai"), may);
        assert_eq!(
            normalize_street_name("Av. du Huit Mai 1945"),
            "avenue du 8 mai 1945"
        );
        assert_eq!(
            normalize_street_name("Avenue du 08 Mai 1945"),
            "avenue du 8 mai 1945"
        );
        assert_eq!(
            normalize_street_name("Rue du Dix-Huit Juin"),
            "rue du 18 juin"
        );
        assert_eq!(
            normalize_street_name("Rue du Vingt-et-Un Juin"),
            "rue du 21 juin"
        );
        assert_eq!(
            normalize_street_name("Rue du Onze Novembre"),
            "rue du 11 novembre"
        );
        assert_eq!(
            normalize_street_name("Rue des Trois Frères"),
            "rue des trois freres"
        );
    }

    #[test]
    fn letters_fold_to_ascii_and_punctuation_to_spaces() {
        assert_eq!(normalize_street_name("Rue de l’Œuvre"), "rue de l oeuvre");
        assert_eq!(normalize_street_name("Hauptstraße"), "hauptstrasse");
        assert_eq!(normalize_street_name("Hauptstr."), "hauptstrasse");
        assert_eq!(normalize_street_name("  RUE   ÇA-ET-LÀ  "), "rue ca et la");
        assert_eq!(
            normalize_street_name("Ｒｕｅ ｄｅ ｌａ Ｐａｉｘ"),
            "rue de la paix"
        );
        assert_eq!(
            normalize_street_name("Avenue J.-F. Kennedy"),
            "avenue jf kennedy"
        );
        assert_eq!(
            normalize_street_name("Avenue JF Kennedy"),
            "avenue jf kennedy"
        );
        assert_eq!(normalize_street_name("..."), "");
    }

    #[test]
    fn house_numbers_have_one_form() {
        for s in [
            "6 bis",
            "6bis",
            "6 BIS",
            "6-bis",
            "n° 6 bis",
            "No. 6bis",
            "06 bis",
        ] {
            assert_eq!(normalize_house_number(s).as_deref(), Some("6bis"), "{s}");
        }
        for s in ["6B", "6 b", "6-B", "nº6b"] {
            assert_eq!(normalize_house_number(s).as_deref(), Some("6b"), "{s}");
        }
        for s in ["6", "n° 6", "no. 6", "N°6", "numéro 6", "006", "６"] {
            assert_eq!(normalize_house_number(s).as_deref(), Some("6"), "{s}");
        }
        assert_eq!(normalize_house_number("6-8").as_deref(), Some("6"));
        assert_eq!(normalize_house_number("6 ter").as_deref(), Some("6ter"));
        assert_eq!(normalize_house_number("A12").as_deref(), Some("a12"));
        assert_eq!(normalize_house_number("s/n"), None);
        assert_eq!(normalize_house_number(""), None);
        assert_eq!(normalize_house_number("Apt 3"), None);
    }

    #[test]
    fn ranges_keep_the_first_number_and_note_the_last() {
        for l in [
            "6-8 rue de la Paix",
            "6 à 8 rue de la Paix",
            "6/8 rue de la Paix",
            "6 et 8 rue de la Paix",
        ] {
            let n = normalize(&line(l));
            assert_eq!(n.house_number.as_deref(), Some("6"), "{l}");
            assert_eq!(n.house_number_end.as_deref(), Some("8"), "{l}");
            assert_eq!(n.street.as_deref(), Some("rue de la paix"), "{l}");
        }
        assert_eq!(
            key(&line("6-8 rue de la Paix")),
            key(&line("6 rue de la Paix"))
        );
    }

    #[test]
    fn english_lines_split_number_and_street() {
        let expected = "v1|221b|baker street|nw1 6xe|london|gb";
        assert_eq!(key(&line("221B Baker St., London NW1 6XE, UK")), expected);
        assert_eq!(
            key(&structured(
                Some("221b"),
                "baker street",
                Some("nw16xe"),
                Some("London"),
                Some("GB")
            )),
            expected
        );
        assert_eq!(
            key(&structured(
                None,
                "221 B Baker Street",
                Some("NW1  6XE"),
                Some("london"),
                Some("United Kingdom")
            )),
            expected
        );
        let downing = normalize(&line("10 Downing St"));
        assert_eq!(downing.house_number.as_deref(), Some("10"));
        assert_eq!(downing.street.as_deref(), Some("downing street"));
        let east = normalize(&line("12 E Main St"));
        assert_eq!(east.house_number.as_deref(), Some("12"));
        assert_eq!(east.street.as_deref(), Some("east main street"));
        let r = normalize(&line("6 r de la Paix"));
        assert_eq!(r.house_number.as_deref(), Some("6"));
        assert_eq!(r.street.as_deref(), Some("rue de la paix"));
        let b = normalize(&line("6 b rue de la Paix"));
        assert_eq!(b.house_number.as_deref(), Some("6b"));
        let ordinal = normalize(&line("2e Avenue"));
        assert_eq!(ordinal.house_number, None);
        assert_eq!(ordinal.street.as_deref(), Some("2e avenue"));
    }

    #[test]
    fn trailing_house_numbers_are_read_but_not_road_numbers_or_years() {
        let roma = normalize(&line("Via Roma 12"));
        assert_eq!(roma.house_number.as_deref(), Some("12"));
        assert_eq!(roma.street.as_deref(), Some("via roma"));
        let haupt = normalize(&line("Hauptstraße 5a"));
        assert_eq!(haupt.house_number.as_deref(), Some("5a"));
        assert_eq!(haupt.street.as_deref(), Some("hauptstrasse"));
        assert_eq!(key(&line("Hauptstr. 5 a")), key(&line("Hauptstraße 5a")));
        let range = normalize(&line("Via Roma 12-14"));
        assert_eq!(range.house_number.as_deref(), Some("12"));
        assert_eq!(range.house_number_end.as_deref(), Some("14"));
        for l in [
            "Avenue du 8 Mai 1945",
            "Route Nationale 7",
            "Highway 1",
            "Quai Antoine Ier",
        ] {
            assert_eq!(normalize(&line(l)).house_number, None, "{l}");
        }
    }

    #[test]
    fn units_are_separated_and_stay_out_of_the_key() {
        let n = normalize(&line("12 rue de la Paix, Bât B, Apt 3"));
        assert_eq!(n.house_number.as_deref(), Some("12"));
        assert_eq!(n.street.as_deref(), Some("rue de la paix"));
        assert_eq!(n.unit.as_deref(), Some("building b, apartment 3"));
        assert_eq!(n.key(), key(&line("12 rue de la Paix")));
        let suite = normalize(&line("100 Main St Ste 200"));
        assert_eq!(suite.street.as_deref(), Some("main street"));
        assert_eq!(suite.unit.as_deref(), Some("suite 200"));
        let hash = normalize(&line("100 Main St #5"));
        assert_eq!(hash.unit.as_deref(), Some("unit 5"));
        let floor = normalize(&line("Appartement 12, 3e étage, 4 av. de Grande-Bretagne"));
        assert_eq!(floor.unit.as_deref(), Some("apartment 12, floor 3"));
        assert_eq!(floor.house_number.as_deref(), Some("4"));
        assert_eq!(floor.street.as_deref(), Some("avenue de grande bretagne"));
        let building = normalize(&line("Le Victoria, 13 boulevard Princesse Charlotte"));
        assert_eq!(building.unit.as_deref(), Some("le victoria"));
        assert_eq!(building.house_number.as_deref(), Some("13"));
        let name = normalize(&line("Bât. Le Cristal, 2 rue de la Lüjerneta"));
        assert_eq!(name.street.as_deref(), Some("rue de la lujerneta"));
        assert_eq!(name.unit.as_deref(), Some("bat le cristal"));
        let house_field = normalize(&structured(
            Some("6 bis, apt 3"),
            "Rue X",
            None,
            Some("Nice"),
            None,
        ));
        assert_eq!(house_field.house_number.as_deref(), Some("6bis"));
        assert_eq!(house_field.unit.as_deref(), Some("apartment 3"));
    }

    #[test]
    fn postal_codes_are_formatted_per_country() {
        let p = |c: &str, cc: Option<&str>| normalize_postal_code(c, cc);
        assert_eq!(p("6000", Some("fr")).as_deref(), Some("06000"));
        assert_eq!(p("F-06000", Some("fr")).as_deref(), Some("06000"));
        assert_eq!(p("75 001", Some("fr")).as_deref(), Some("75001"));
        assert_eq!(p("MC 98000", Some("mc")).as_deref(), Some("98000"));
        assert_eq!(p("D-1067", Some("de")).as_deref(), Some("01067"));
        assert_eq!(p("12345-6789", Some("us")).as_deref(), Some("12345-6789"));
        assert_eq!(p("12345 6789", Some("us")).as_deref(), Some("12345-6789"));
        assert_eq!(p("123456789", Some("us")).as_deref(), Some("12345-6789"));
        assert_eq!(p("2134", Some("us")).as_deref(), Some("02134"));
        assert_eq!(p("SW1A2AA", Some("gb")).as_deref(), Some("sw1a 2aa"));
        assert_eq!(p(" sw1a  2aa ", Some("gb")).as_deref(), Some("sw1a 2aa"));
        assert_eq!(p("K1A0B1", Some("ca")).as_deref(), Some("k1a 0b1"));
        assert_eq!(p("1000", Some("be")).as_deref(), Some("1000"));
        assert_eq!(p("AB-12 3", None).as_deref(), Some("ab123"));
        assert_eq!(p(" - ", Some("fr")), None);
    }

    #[test]
    fn countries_become_alpha_2_codes() {
        let c = |s: &str| normalize_country(s);
        assert_eq!(c("France").as_deref(), Some("fr"));
        assert_eq!(c("FR").as_deref(), Some("fr"));
        assert_eq!(c("Monaco").as_deref(), Some("mc"));
        assert_eq!(c("Principauté de Monaco").as_deref(), Some("mc"));
        assert_eq!(c("United Kingdom").as_deref(), Some("gb"));
        assert_eq!(c("UK").as_deref(), Some("gb"));
        assert_eq!(c("Royaume-Uni").as_deref(), Some("gb"));
        assert_eq!(c("Deutschland").as_deref(), Some("de"));
        assert_eq!(c("États-Unis").as_deref(), Some("us"));
        assert_eq!(c("Atlantis").as_deref(), Some("atlantis"));
        assert_eq!(c(" "), None);
    }

    #[test]
    fn monaco_is_inferred_from_its_postal_codes_and_name() {
        assert_eq!(
            normalize(&line("13 bd Princesse Charlotte, 98000 Monaco"))
                .country_code
                .as_deref(),
            Some("mc")
        );
        let q = structured(
            Some("13"),
            "bd Princesse Charlotte",
            None,
            Some("Monte-Carlo"),
            None,
        );
        assert_eq!(normalize(&q).country_code.as_deref(), Some("mc"));
        let q = structured(
            Some("2"),
            "rue de Rivoli",
            Some("75001"),
            Some("Paris"),
            None,
        );
        assert_eq!(normalize(&q).country_code, None);
    }

    #[test]
    fn cities_drop_cedex_and_arrondissements() {
        let city = |c: &str| normalize(&structured(None, "rue X", None, Some(c), Some("fr"))).city;
        assert_eq!(city("Nice Cedex 3").as_deref(), Some("nice"));
        assert_eq!(city("Paris 1er").as_deref(), Some("paris 1"));
        assert_eq!(city("PARIS 01").as_deref(), Some("paris 1"));
        assert_eq!(city("Paris 1er Arrondissement").as_deref(), Some("paris 1"));
        assert_eq!(city("St-Tropez").as_deref(), Some("saint tropez"));
        let with_code = normalize(&structured(
            None,
            "rue X",
            None,
            Some("06000 Nice"),
            Some("fr"),
        ));
        assert_eq!(with_code.city.as_deref(), Some("nice"));
        assert_eq!(with_code.postal_code.as_deref(), Some("06000"));
    }

    #[test]
    fn structured_parts_win_over_the_line() {
        let q = AddressQuery {
            line: Some("10 Downing St, London".into()),
            street: Some("Baker Street".into()),
            house_number: Some("221B".into()),
            ..AddressQuery::default()
        };
        let n = normalize(&q);
        assert_eq!(n.house_number.as_deref(), Some("221b"));
        assert_eq!(n.street.as_deref(), Some("baker street"));
        assert_eq!(n.city.as_deref(), Some("london"));
        let q = AddressQuery {
            line: Some("6 quai Antoine 1er".into()),
            street: Some("Quai Antoine Ier".into()),
            ..AddressQuery::default()
        };
        assert_eq!(normalize(&q).house_number.as_deref(), Some("6"));
        let q = structured(Some("6"), "6 Quai Antoine 1er", None, None, None);
        assert_eq!(normalize(&q).street.as_deref(), Some("quai antoine 1er"));
    }

    #[test]
    fn emptiness_and_street_key() {
        assert!(normalize(&AddressQuery::default()).is_empty());
        let only_country = AddressQuery {
            country_code: Some("FR".into()),
            house_number: Some("6".into()),
            ..AddressQuery::default()
        };
        assert!(normalize(&only_country).is_empty());
        let only_city = AddressQuery {
            city: Some("Nice".into()),
            ..AddressQuery::default()
        };
        assert!(!normalize(&only_city).is_empty());
        let n = normalize(&line("13 bd Princesse-Charlotte"));
        assert_eq!(
            n.street_key(),
            Some(normalize_street_name("Boulevard Princesse Charlotte"))
        );
        let postal_only = normalize(&line("98000 Monaco"));
        assert_eq!(postal_only.street, None);
        assert_eq!(postal_only.postal_code.as_deref(), Some("98000"));
        assert_eq!(postal_only.city.as_deref(), Some("monaco"));
    }

    #[test]
    fn us_lines_drop_the_state_before_the_zip_code() {
        let n = normalize(&line(
            "1600 Pennsylvania Ave NW, Washington, DC 20500-0003, USA",
        ));
        assert_eq!(n.house_number.as_deref(), Some("1600"));
        assert_eq!(n.street.as_deref(), Some("pennsylvania avenue northwest"));
        assert_eq!(n.city.as_deref(), Some("washington"));
        assert_eq!(n.postal_code.as_deref(), Some("20500-0003"));
        assert_eq!(n.country_code.as_deref(), Some("us"));
    }

    #[test]
    fn street_type_abbreviations_are_unique() {
        let mut seen = HashSet::new();
        for t in STREET_TYPES {
            assert!(seen.insert(t.canonical), "{}", t.canonical);
            for a in t.abbreviations {
                assert!(seen.insert(*a), "{a}");
                assert_eq!(fold(a), *a);
            }
        }
    }

    // ---- Property tests: an address from a small grammar, written many ways.

    /// Street names, each in spellings that must normalize alike.
    const NAMES: &[&[&str]] = &[
        &["de la Costa", "DE LA COSTA", "de  la  Costa"],
        &["des Moulins", "des moulins"],
        &["Sainte-Dévote", "Ste Devote", "Sainte Devote", "STE-DÉVOTE"],
        &["Saint-Roman", "St Roman", "St. Roman"],
        &["Princesse Grâce", "Princesse Grace", "Princesse-Grace"],
        &["de l'Église", "de l’Eglise", "de l Église"],
        &["Albert Ier", "Albert 1er", "Albert Premier"],
        &["Émile de Loth", "Emile de Loth", "EMILE DE LOTH"],
        &["des Œillets", "des Oeillets"],
        &["du Général Leclerc", "du Gal Leclerc", "du Gen. Leclerc"],
        &["Grimaldi", "grimaldi"],
        &["Louis II", "Louis  II"],
        &["du 8 Mai 1945", "du Huit Mai 1945", "du 08 mai 1945"],
        &["Mary's", "Marys"],
    ];

    /// A locality and the ways of writing it.
    struct Place {
        /// Written "City Code" rather than "Code City" in a line.
        city_first: bool,
        postal_codes: &'static [&'static str],
        cities: &'static [&'static str],
        countries: &'static [&'static str],
    }

    const PLACES: &[Place] = &[
        Place {
            city_first: false,
            postal_codes: &["98000", "98 000", "MC-98000", " 98000 "],
            cities: &["Monaco", "MONACO", "Monaco Cedex"],
            countries: &["MC", "mc", "Monaco", " Principauté de Monaco "],
        },
        Place {
            city_first: false,
            postal_codes: &["06000", "6000", "06 000", "F-06000"],
            cities: &["Nice", "NICE", "Nice Cedex 1"],
            countries: &["FR", "France", "fr"],
        },
        Place {
            city_first: true,
            postal_codes: &["SW1A 2AA", "sw1a2aa", "SW1A  2AA"],
            cities: &["London", "LONDON"],
            countries: &["GB", "UK", "United Kingdom"],
        },
        Place {
            city_first: true,
            postal_codes: &["12345-6789", "12345 6789", "123456789"],
            cities: &["Springfield", "SPRINGFIELD"],
            countries: &["US", "USA", "United States"],
        },
    ];

    /// Street types in a form the grammar writes: canonical name, every spelling, and whether
    /// the type goes first (French order).
    fn types() -> Vec<(&'static str, Vec<String>, bool)> {
        STREET_TYPES
            .iter()
            .map(|t| {
                let mut spellings = vec![t.canonical.to_owned(), t.canonical.to_uppercase()];
                for a in t.abbreviations {
                    spellings.push((*a).to_owned());
                    spellings.push(format!("{a}."));
                }
                if t.canonical == "rond point" {
                    spellings.push("Rond-Point".into());
                }
                if t.canonical == "lieu dit" {
                    spellings.push("Lieu-dit".into());
                }
                (t.canonical, spellings, t.lang != Lang::En)
            })
            .collect()
    }

    #[derive(Debug, Clone)]
    struct Seed {
        number: u32,
        suffix: Option<&'static str>,
        type_index: usize,
        name_index: usize,
        place: Option<usize>,
    }

    /// Independent choices for one way of writing a seed.
    #[derive(Debug, Clone)]
    struct Style {
        picks: Vec<usize>,
        case: Vec<bool>,
        layout: usize,
    }

    fn seed() -> impl Strategy<Value = Seed> {
        (
            1u32..2000,
            prop::sample::select(vec![
                None,
                Some("bis"),
                Some("ter"),
                Some("a"),
                Some("b"),
                Some("c"),
            ]),
            0..STREET_TYPES.len(),
            0..NAMES.len(),
            prop::option::of(0..PLACES.len()),
        )
            .prop_map(|(number, suffix, type_index, name_index, place)| Seed {
                number,
                suffix,
                type_index,
                name_index,
                place,
            })
    }

    fn style() -> impl Strategy<Value = Style> {
        (
            prop::collection::vec(0usize..1000, 12),
            prop::collection::vec(any::<bool>(), 1..16),
            0usize..5,
        )
            .prop_map(|(picks, case, layout)| Style {
                picks,
                case,
                layout,
            })
    }

    fn pick<'a, T>(items: &'a [T], style: &Style, slot: usize) -> &'a T {
        &items[style.picks[slot] % items.len()]
    }

    fn recase(s: &str, style: &Style) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if style.case[i % style.case.len()] {
                    c.to_uppercase().collect::<String>()
                } else {
                    c.to_lowercase().collect()
                }
            })
            .collect()
    }

    fn house_text(seed: &Seed, style: &Style) -> String {
        let n = seed.number;
        let body = match seed.suffix {
            // A zero-padded number of five digits would read as a postal code.
            None if n >= 1000 => format!("{n}"),
            None => pick(
                &[format!("{n}"), format!("0{n}"), format!("{n} ")],
                style,
                0,
            )
            .clone(),
            Some(s) => pick(
                &[
                    format!("{n}{s}"),
                    format!("{n} {s}"),
                    format!("{n}-{s}"),
                    format!("{n}{}", s.to_uppercase()),
                ],
                style,
                0,
            )
            .clone(),
        };
        pick(
            &[
                body.clone(),
                body.clone(),
                format!("n° {body}"),
                format!("No. {body}"),
            ],
            style,
            1,
        )
        .clone()
    }

    fn street_text(
        seed: &Seed,
        style: &Style,
        types: &[(&'static str, Vec<String>, bool)],
    ) -> String {
        let (_, spellings, first) = &types[seed.type_index];
        let street_type: &String = pick(spellings, style, 2);
        let street_type = recase(street_type, style);
        let name: &&str = pick(NAMES[seed.name_index], style, 3);
        let name = recase(name, style);
        let gap = *pick(&[" ", "  ", " - ", "\t"], style, 4);
        if *first {
            format!("{street_type}{gap}{name}")
        } else {
            format!("{name}{gap}{street_type}")
        }
    }

    fn render(
        seed: &Seed,
        style: &Style,
        types: &[(&'static str, Vec<String>, bool)],
    ) -> AddressQuery {
        let house = house_text(seed, style);
        let street = street_text(seed, style, types);
        let place = seed.place.map(|p| &PLACES[p]);
        let postal = place.map(|p| (*pick(p.postal_codes, style, 5)).to_owned());
        let city = place.map(|p| {
            let city: &&str = pick(p.cities, style, 6);
            recase(city, style)
        });
        let country = place.map(|p| (*pick(p.countries, style, 7)).to_owned());
        let comma = *pick(&[" ", ", ", " , "], style, 8);
        match style.layout {
            0 => AddressQuery {
                line: None,
                house_number: Some(house),
                street: Some(street),
                postal_code: postal,
                city,
                country_code: country,
            },
            1 => AddressQuery {
                line: Some(format!("{house}{comma}{street}")),
                house_number: None,
                street: None,
                postal_code: postal,
                city,
                country_code: country,
            },
            2 => AddressQuery {
                line: None,
                house_number: None,
                street: Some(format!("{house}{comma}{street}")),
                postal_code: postal,
                city,
                country_code: country,
            },
            3 => {
                let locality = match (place, postal, city) {
                    (Some(place), Some(p), Some(c)) if place.city_first => format!(", {c} {p}"),
                    (Some(_), Some(p), Some(c)) => format!(", {p} {c}"),
                    _ => String::new(),
                };
                AddressQuery {
                    line: Some(format!("{house}{comma}{street}{locality}")),
                    country_code: country,
                    ..AddressQuery::default()
                }
            }
            _ => AddressQuery {
                line: Some(format!("{house} {street}, apt {}", style.picks[9] % 50 + 1)),
                house_number: None,
                street: None,
                postal_code: postal,
                city,
                country_code: country,
            },
        }
    }

    fn reparse(n: &NormalizedAddress) -> AddressQuery {
        AddressQuery {
            line: None,
            house_number: n.house_number.clone(),
            street: n.street.clone(),
            postal_code: n.postal_code.clone(),
            city: n.city.clone(),
            country_code: n.country_code.clone(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn equivalent_spellings_give_one_key(seed in seed(), a in style(), b in style()) {
            let types = types();
            let qa = render(&seed, &a, &types);
            let qb = render(&seed, &b, &types);
            let (na, nb) = (normalize(&qa), normalize(&qb));
            prop_assert_eq!(na.key(), nb.key(), "{:?}\n{:?}", qa, qb);
            let number = match seed.suffix {
                Some(s) => format!("{}{s}", seed.number),
                None => seed.number.to_string(),
            };
            prop_assert_eq!(na.house_number.as_deref(), Some(number.as_str()), "{:?}", qa);
            let street_type = types[seed.type_index].0;
            let street = na.street.as_deref().unwrap_or_default();
            prop_assert!(street.contains(street_type), "{:?} {:?}", qa, na);
        }

        #[test]
        fn normalizing_normalized_parts_changes_nothing(seed in seed(), style in style()) {
            let types = types();
            let n = normalize(&render(&seed, &style, &types));
            let again = normalize(&reparse(&n));
            prop_assert_eq!(again.key(), n.key());
            prop_assert_eq!(again.street, n.street.clone());
        }

        #[test]
        fn street_names_are_idempotent(s in "[a-zA-Z0-9 .,'°-]{0,40}") {
            let once = normalize_street_name(&s);
            prop_assert_eq!(normalize_street_name(&once), once.clone());
        }

        #[test]
        fn distinct_house_numbers_give_distinct_keys(
            seed in seed(),
            shift in 1u32..1999,
            style in style(),
        ) {
            let types = types();
            let moved = Seed { number: (seed.number - 1 + shift) % 1999 + 1, ..seed.clone() };
            let (a, b) = (render(&seed, &style, &types), render(&moved, &style, &types));
            prop_assert_ne!(key(&a), key(&b));
        }

        #[test]
        fn distinct_street_names_give_distinct_keys(
            seed in seed(),
            shift in 1..NAMES.len(),
            style in style(),
        ) {
            let types = types();
            let index = (seed.name_index + shift) % NAMES.len();
            let moved = Seed { name_index: index, ..seed.clone() };
            let (a, b) = (render(&seed, &style, &types), render(&moved, &style, &types));
            prop_assert_ne!(key(&a), key(&b));
        }

        #[test]
        fn distinct_street_types_give_distinct_keys(
            seed in seed(),
            shift in 1..STREET_TYPES.len(),
            style in style(),
        ) {
            let types = types();
            let index = (seed.type_index + shift) % STREET_TYPES.len();
            let moved = Seed { type_index: index, ..seed.clone() };
            let (a, b) = (render(&seed, &style, &types), render(&moved, &style, &types));
            prop_assert_ne!(key(&a), key(&b));
        }

        #[test]
        fn never_panics_on_arbitrary_input(
            fields in prop::collection::vec(prop::option::of(any::<String>()), 6),
            addressy in "[0-9a-zA-Zéœß°º#/&,;.' -]{0,60}",
        ) {
            let q = AddressQuery {
                line: fields[0].clone(),
                house_number: fields[1].clone(),
                street: fields[2].clone(),
                postal_code: fields[3].clone(),
                city: fields[4].clone(),
                country_code: fields[5].clone(),
            };
            let n = normalize(&q);
            prop_assert!(!n.key().contains('\n'));
            prop_assert_eq!(n.key().matches(KEY_SEPARATOR).count(), 5);
            let q = AddressQuery {
                line: Some(addressy.clone()),
                house_number: Some(addressy.clone()),
                street: Some(addressy.clone()),
                postal_code: Some(addressy.clone()),
                city: Some(addressy.clone()),
                country_code: Some(addressy.clone()),
            };
            prop_assert_eq!(normalize(&q).key().matches(KEY_SEPARATOR).count(), 5);
            let countries = ["fr", "mc", "us", "gb", "ca", "nl", "be", "zz"];
            for cc in countries.into_iter().map(Some).chain([None]) {
                let _ = normalize_postal_code(&addressy, cc);
                if let Some(s) = &fields[0] {
                    let _ = normalize_postal_code(s, cc);
                }
            }
            let _ = normalize_street_name(&addressy);
            let _ = normalize_house_number(&addressy);
        }
    }
}
