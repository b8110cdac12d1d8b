//! Word tables: street types, titles, directions, ordinals, units, postal-code and country
//! tables the normalization rules read (data, long by nature).

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Where in a street name a type abbreviation is read as that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
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
pub(super) enum Lang {
    Fr,
    En,
    Both,
}

#[derive(Debug)]
pub(super) struct StreetType {
    pub(super) canonical: &'static str,
    pub(super) lang: Lang,
    pub(super) at: At,
    pub(super) abbreviations: &'static [&'static str],
}

pub(super) const fn street_type(
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
pub(super) const STREET_TYPES: &[StreetType] = &[
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
pub(super) static TYPE_ABBREVIATIONS: LazyLock<HashMap<&'static str, &'static StreetType>> =
    LazyLock::new(|| {
        STREET_TYPES
            .iter()
            .flat_map(|t| t.abbreviations.iter().map(move |a| (*a, t)))
            .collect()
    });

/// Every word that names a street type (canonical or abbreviated) → its language.
pub(super) static TYPE_WORDS: LazyLock<HashMap<&'static str, Lang>> = LazyLock::new(|| {
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
pub(super) static TITLES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
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
pub(super) static DIRECTIONS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
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
pub(super) static ORDINAL_WORDS: LazyLock<HashMap<&'static str, u32>> = LazyLock::new(|| {
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
pub(super) const ORDINAL_SUFFIXES: &[&str] = &[
    "er", "ere", "re", "e", "eme", "ieme", "em", "o", "st", "nd", "rd", "th",
];

/// French numbers 1 to 16, in order, for dates written in words ("Huit Mai").
pub(super) const FR_NUMBERS: &[&str] = &[
    "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze",
    "treize", "quatorze", "quinze", "seize",
];

pub(super) const MONTHS: &[&str] = &[
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
pub(super) const ROAD_NUMBER_WORDS: &[&str] = &[
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
pub(super) const HOUSE_SUFFIXES: &[&str] = &["bis", "ter", "quater", "quinquies"];

/// Words before a house number: "n° 6", "No. 6", "numéro 6".
pub(super) const NUMBER_PREFIXES: &[&str] = &["n", "no", "nr", "num", "numero", "number", "nbr"];

/// Words between the two numbers of a range: "6 à 8", "6 et 8", "6 to 8".
pub(super) const RANGE_WORDS: &[&str] = &["a", "au", "et", "to", "and"];

/// Ways of writing "no house number".
pub(super) const NO_NUMBER: &[&[&str]] = &[
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
pub(super) static UNIT_WORDS: LazyLock<HashMap<&'static str, (&'static str, bool)>> =
    LazyLock::new(|| {
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
pub(super) const NOT_UNIT_IDS: &[&str] = &[
    "le", "la", "de", "du", "en", "au", "un", "et", "of", "on", "at", "to", "in", "da", "di", "do",
];

/// Countries whose postal codes are five digits, padded when a leading zero was lost.
pub(super) const PADDED_FIVE_DIGIT: &[&str] = &["fr", "mc", "de", "it", "es"];

/// Other countries whose postal codes are five digits.
pub(super) const FIVE_DIGIT: &[&str] = &["fi", "hr", "ee", "mx", "ma", "tr", "ua", "gr", "se"];

/// Countries whose postal codes are four digits.
pub(super) const FOUR_DIGIT: &[&str] = &[
    "be", "ch", "lu", "at", "dk", "no", "au", "nz", "hu", "si", "bg", "za", "li", "cy", "tn",
];

/// Country prefixes written before a postal code ("F-06000", "MC 98000").
pub(super) const POSTAL_PREFIXES: &[&str] = &[
    "f", "fr", "mc", "d", "de", "i", "it", "e", "es", "b", "be", "ch", "l", "lu", "a", "at", "nl",
    "dk", "p", "pt",
];

/// US state codes, dropped from a city written before a ZIP code ("Springfield, IL 62701").
pub(super) const US_STATES: &[&str] = &[
    "al", "ak", "az", "ar", "ca", "co", "ct", "de", "fl", "ga", "hi", "id", "il", "in", "ia", "ks",
    "ky", "la", "me", "md", "ma", "mi", "mn", "ms", "mo", "mt", "ne", "nv", "nh", "nj", "nm", "ny",
    "nc", "nd", "oh", "ok", "or", "pa", "ri", "sc", "sd", "tn", "tx", "ut", "vt", "va", "wa", "wv",
    "wi", "wy", "dc", "pr",
];

/// Folded country names and codes → ISO 3166-1 alpha-2.
pub(super) static COUNTRIES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
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
pub(super) static KNOWN_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
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

pub(super) fn type_lang(w: &str) -> Option<Lang> {
    TYPE_WORDS.get(w).copied()
}

pub(super) fn is_english_type(w: &str) -> bool {
    matches!(type_lang(w), Some(Lang::En | Lang::Both))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::STREET_TYPES;
    use crate::geocode::normalize::tokens::fold;

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
}
