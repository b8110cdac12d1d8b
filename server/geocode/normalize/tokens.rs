//! Folding and tokens: accents dropped, letters spelled out, words and separators split.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Word(String),
    /// A comma, semicolon or line break: between segments of a free-form line.
    Comma,
    Hash,
    Dash,
    Slash,
    Amp,
}

impl Tok {
    pub(super) fn word(&self) -> Option<&str> {
        match self {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Compatibility decomposition, accents dropped, lower case, non-decomposing letters spelled.
pub(super) fn fold(s: &str) -> String {
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

pub(super) fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '`' | '\u{2018}' | '\u{2019}' | '\u{02bb}' | '\u{02bc}' | '\u{2032}'
    )
}

pub(super) fn tokenize(s: &str) -> Vec<Tok> {
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

pub(super) fn words(toks: &[Tok]) -> Vec<String> {
    toks.iter()
        .filter_map(|t| t.word().map(str::to_owned))
        .collect()
}

/// Letters and digits only, folded; `None` when nothing is left.
pub(super) fn compact(s: &str) -> Option<String> {
    let c: String = fold(s).chars().filter(|c| c.is_alphanumeric()).collect();
    (!c.is_empty()).then_some(c)
}

pub(super) fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn is_digits(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn starts_with_digit(w: &str) -> bool {
    w.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

pub(super) fn is_single_letter(w: &str) -> bool {
    w.len() == 1 && w.as_bytes()[0].is_ascii_lowercase()
}

pub(super) fn strip_zeros(digits: &str) -> &str {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() && !digits.is_empty() {
        "0"
    } else {
        trimmed
    }
}

/// The leading ASCII digits of a word and the rest.
pub(super) fn split_digits(w: &str) -> (&str, &str) {
    let n = w.bytes().take_while(u8::is_ascii_digit).count();
    w.split_at(n)
}

/// "f06000" → "06000": up to three letters before digits are a country prefix.
pub(super) fn strip_letter_prefix(c: &str) -> &str {
    let letters = c.bytes().take_while(u8::is_ascii_lowercase).count();
    let rest = &c[letters..];
    if (1..=3).contains(&letters) && is_digits(rest) {
        rest
    } else {
        c
    }
}

pub(super) fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}
