//! House numbers: number, suffix and range, in a street line or on their own.

use super::tables::{
    HOUSE_SUFFIXES, Lang, MONTHS, NO_NUMBER, NUMBER_PREFIXES, RANGE_WORDS, type_lang,
};
use super::tokens::{
    Tok, is_digits, is_single_letter, split_digits, starts_with_digit, strip_zeros, tokenize, words,
};
use super::unit::extract_units;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct House {
    pub(super) number: String,
    pub(super) suffix: Option<String>,
    pub(super) end: Option<String>,
}

impl House {
    pub(super) fn text(&self) -> String {
        match &self.suffix {
            Some(s) => format!("{}{s}", self.number),
            None => self.number.clone(),
        }
    }
}

/// Where a house number is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// The house number field: anything number-like is the house number.
    Field,
    /// The start of a street line ("6 quai ...").
    Lead,
    /// The end of a street line ("Via Roma 12").
    Trail,
}

/// "6", "6b", "6bis" → number and suffix. In a line, "2e" and "2o" are ordinals.
pub(super) fn house_head(w: &str, ctx: Ctx) -> Option<(String, Option<String>)> {
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
pub(super) fn parse_house(toks: &[Tok], start: usize, ctx: Ctx) -> Option<(House, usize)> {
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
pub(super) fn starts_range(toks: &[Tok], j: usize) -> bool {
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
pub(super) fn letter_is_suffix(toks: &[Tok], j: usize, ctx: Ctx) -> bool {
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

pub(super) fn parse_house_field(s: &str) -> (Option<House>, Vec<String>) {
    let (toks, units) = extract_units(&tokenize(s));
    let ws = words(&toks);
    if ws.is_empty()
        || NO_NUMBER.contains(&ws.iter().map(String::as_str).collect::<Vec<_>>().as_slice())
    {
        return (None, units);
    }
    let house = parse_house(&toks, 0, Ctx::Field).map_or_else(
        || House {
            number: ws.concat(),
            suffix: None,
            end: None,
        },
        |(h, _)| h,
    );
    (Some(house), units)
}
