//! Free-form lines: segments split into house number, street, units, postal code, city, country.

use super::house::{Ctx, House, parse_house};
use super::postal::{city_around_postal, country_of_segment, find_postal};
use super::street::{canonical_city, canonical_street};
use super::tables::{COUNTRIES, MONTHS, POSTAL_PREFIXES, ROAD_NUMBER_WORDS, type_lang};
use super::tokens::{Tok, non_empty, tokenize, words};
use super::unit::extract_units;

#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) house: Option<House>,
    pub(super) street: Option<String>,
    pub(super) units: Vec<String>,
    pub(super) postal: Option<String>,
    pub(super) city: Option<String>,
    pub(super) country: Option<String>,
}

impl Parsed {
    /// A segment after the street: postal code and city, a late house number, or a region.
    pub(super) fn read_locality(&mut self, seg: &[Tok], country: Option<&str>) {
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
pub(super) fn is_locality(seg: &[Tok], country: Option<&str>) -> bool {
    let ws = words(seg);
    if ws.iter().any(|w| type_lang(w).is_some()) {
        return false;
    }
    find_postal(&ws, 0, country, false)
        .is_some_and(|(_, start, len)| start == 0 || start + len == ws.len())
}

/// A segment that is only a house number ("6" in "6, quai Antoine Ier").
pub(super) fn is_house_only(seg: &[Tok]) -> bool {
    parse_house(seg, 0, Ctx::Lead)
        .is_some_and(|(_, used)| seg[used..].iter().all(|t| t.word().is_none()))
}

/// Whether a street segment may hold the house number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HouseIn {
    Street,
    Nowhere,
}

pub(super) fn parse_line(s: &str, country_hint: Option<&str>, house_in: HouseIn) -> Parsed {
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
pub(super) fn read_street_segment(seg: &[Tok], country: Option<&str>, out: &mut Parsed) {
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
