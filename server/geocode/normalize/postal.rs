//! Postal codes and countries: finding a code in a line, the city around it, the country.

use super::street::canonical_city;
use super::tables::{
    COUNTRIES, FIVE_DIGIT, FOUR_DIGIT, PADDED_FIVE_DIGIT, POSTAL_PREFIXES, US_STATES,
};
use super::tokens::{compact, is_digits, strip_letter_prefix, tokenize, words};

pub(super) fn is_uk_outward(s: &str) -> bool {
    (2..=4).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub(super) fn is_uk_inward(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 3 && b[0].is_ascii_digit() && b[1].is_ascii_lowercase() && b[2].is_ascii_lowercase()
}

/// "sw1a2aa" → ("sw1a", "2aa").
pub(super) fn split_uk_postcode(c: &str) -> Option<(&str, &str)> {
    if !(5..=7).contains(&c.len()) || !c.is_ascii() {
        return None;
    }
    let (outward, inward) = c.split_at(c.len() - 3);
    (is_uk_outward(outward) && is_uk_inward(inward)).then_some((outward, inward))
}

pub(super) fn is_ca_postcode(c: &str) -> bool {
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
pub(super) fn postal_at(
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
pub(super) fn find_postal(
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
pub(super) fn city_around_postal(
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
pub(super) fn country_of_segment(ws: &[String]) -> Option<&'static str> {
    let name = ws.join(" ");
    if name.len() <= 2 && name != "uk" && name != "us" {
        return None;
    }
    match name.as_str() {
        "us" => Some("us"),
        _ => COUNTRIES.get(name.as_str()).copied(),
    }
}

pub(super) fn infer_country(postal: Option<&str>, city: Option<&str>) -> Option<String> {
    let monaco_postal = postal.and_then(compact).is_some_and(|p| {
        let d = strip_letter_prefix(&p);
        d.len() == 5 && is_digits(d) && d.starts_with("980")
    });
    (monaco_postal || matches!(city, Some("monaco" | "monte carlo"))).then(|| "mc".to_owned())
}

pub(super) fn parse_city_field(c: &str, country: Option<&str>) -> (Option<String>, Option<String>) {
    let ws = words(&tokenize(c));
    match find_postal(&ws, 0, country, false) {
        Some((raw, start, len)) if start == 0 || start + len == ws.len() => {
            let rest = city_around_postal(&ws, start, len, country);
            (canonical_city(&rest), Some(raw))
        }
        _ => (canonical_city(&ws), None),
    }
}
