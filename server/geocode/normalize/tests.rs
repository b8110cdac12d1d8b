//! Examples and property tests of the normalization rules, through the public functions.

use proptest::prelude::*;

use super::tables::{Lang, STREET_TYPES};
use super::*;

fn line(l: &str) -> Address {
    Address {
        line: Some(l.to_owned()),
        ..Address::default()
    }
}

fn structured(
    house: Option<&str>,
    street: &str,
    postal: Option<&str>,
    city: Option<&str>,
    country: Option<&str>,
) -> Address {
    Address {
        line: None,
        house_number: house.map(str::to_owned),
        street: Some(street.to_owned()),
        postal_code: postal.map(str::to_owned),
        city: city.map(str::to_owned),
        country_code: country.map(str::to_owned),
    }
}

fn key(q: &Address) -> String {
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
    let q = Address {
        line: Some("6, quai Antoine Ier".into()),
        postal_code: Some("98 000".into()),
        city: Some("Monaco".into()),
        country_code: Some("MC".into()),
        ..Address::default()
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
        );
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
    let q = Address {
        line: Some("10 Downing St, London".into()),
        street: Some("Baker Street".into()),
        house_number: Some("221B".into()),
        ..Address::default()
    };
    let n = normalize(&q);
    assert_eq!(n.house_number.as_deref(), Some("221b"));
    assert_eq!(n.street.as_deref(), Some("baker street"));
    assert_eq!(n.city.as_deref(), Some("london"));
    let q = Address {
        line: Some("6 quai Antoine 1er".into()),
        street: Some("Quai Antoine Ier".into()),
        ..Address::default()
    };
    assert_eq!(normalize(&q).house_number.as_deref(), Some("6"));
    let q = structured(Some("6"), "6 Quai Antoine 1er", None, None, None);
    assert_eq!(normalize(&q).street.as_deref(), Some("quai antoine 1er"));
}

#[test]
fn emptiness_and_street_key() {
    assert!(normalize(&Address::default()).is_empty());
    let only_country = Address {
        country_code: Some("FR".into()),
        house_number: Some("6".into()),
        ..Address::default()
    };
    assert!(normalize(&only_country).is_empty());
    let only_city = Address {
        city: Some("Nice".into()),
        ..Address::default()
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

fn street_text(seed: &Seed, style: &Style, types: &[(&'static str, Vec<String>, bool)]) -> String {
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

fn render(seed: &Seed, style: &Style, types: &[(&'static str, Vec<String>, bool)]) -> Address {
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
        0 => Address {
            line: None,
            house_number: Some(house),
            street: Some(street),
            postal_code: postal,
            city,
            country_code: country,
        },
        1 => Address {
            line: Some(format!("{house}{comma}{street}")),
            house_number: None,
            street: None,
            postal_code: postal,
            city,
            country_code: country,
        },
        2 => Address {
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
            Address {
                line: Some(format!("{house}{comma}{street}{locality}")),
                country_code: country,
                ..Address::default()
            }
        }
        _ => Address {
            line: Some(format!("{house} {street}, apt {}", style.picks[9] % 50 + 1)),
            house_number: None,
            street: None,
            postal_code: postal,
            city,
            country_code: country,
        },
    }
}

fn reparse(n: &NormalizedAddress) -> Address {
    Address {
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
        let q = Address {
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
        let q = Address {
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
