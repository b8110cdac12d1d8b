//! Units ("apt 3", "bât B", "#5", "3e étage") taken out of a street line.

use super::street::ordinal_number;
use super::tables::{NOT_UNIT_IDS, NUMBER_PREFIXES, UNIT_WORDS};
use super::tokens::{Tok, is_digits, is_single_letter, strip_zeros};

/// Removes units ("apt 3", "bât B", "#5", "3e étage") from a token list.
pub(super) fn extract_units(toks: &[Tok]) -> (Vec<Tok>, Vec<String>) {
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

pub(super) fn unit_at(toks: &[Tok], i: usize) -> Option<(String, usize)> {
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

pub(super) fn unit_id(id: &str) -> &str {
    if is_digits(id) { strip_zeros(id) } else { id }
}
