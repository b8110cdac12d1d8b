//! Street and city names: ordinals, dates, street-type expansion, initials.

use super::tables::{
    At, DIRECTIONS, FR_NUMBERS, KNOWN_WORDS, Lang, MONTHS, ORDINAL_SUFFIXES, ORDINAL_WORDS, TITLES,
    TYPE_ABBREVIATIONS, is_english_type, type_lang,
};
use super::tokens::{is_digits, is_single_letter, split_digits, starts_with_digit, strip_zeros};

/// The number of an ordinal word ("1er", "2ème", "3rd", "premier", "Ier"), without zeros.
pub(super) fn ordinal_number(w: &str) -> Option<String> {
    let (digits, suffix) = split_digits(w);
    if !digits.is_empty() {
        return ORDINAL_SUFFIXES
            .contains(&suffix)
            .then(|| strip_zeros(digits).to_owned());
    }
    ORDINAL_WORDS.get(w).map(u32::to_string)
}

pub(super) fn canonical_ordinal(number: &str) -> String {
    if number == "1" {
        "1er".to_owned()
    } else {
        format!("{number}e")
    }
}

/// A French number in words at `words[i]` ("huit", "dix huit", "vingt et un"): its value and
/// how many words it takes.
pub(super) fn french_number(words: &[String], i: usize) -> Option<(u32, usize)> {
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
pub(super) fn date_numbers(raw: &[String]) -> Vec<String> {
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

pub(super) fn canonical_street(raw: &[String]) -> String {
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
pub(super) fn leading_type(word: &str, english_tail: bool) -> Option<&'static str> {
    if matches!(word, "st" | "dr" | "rd") {
        return None;
    }
    let t = TYPE_ABBREVIATIONS.get(word)?;
    let placed = matches!(t.at, At::First | At::Edge | At::Anywhere);
    (placed && !(english_tail && t.lang == Lang::Fr)).then_some(t.canonical)
}

/// A street type read as the last word ("st" → "street", "rd" → "road").
pub(super) fn trailing_type(word: &str, before_number: bool) -> Option<&'static str> {
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
pub(super) fn inner_word(word: &str) -> Option<&'static str> {
    match TYPE_ABBREVIATIONS.get(word) {
        Some(t) if t.at == At::Anywhere => Some(t.canonical),
        _ => TITLES.get(word).copied(),
    }
}

/// "j f kennedy" → "jf kennedy", unless the merged letters would read as a known word.
pub(super) fn merge_initials(words: Vec<String>) -> Vec<String> {
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

pub(super) fn canonical_city(raw: &[String]) -> Option<String> {
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
