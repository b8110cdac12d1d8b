//! Query strings and form bodies as `(name, value)` pairs, as both vendors' endpoints read them.

use percent_encoding::percent_decode_str;

/// `(name, value)` pairs of a query string or form body, percent- and `+`-decoded.
pub fn url_pairs(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    };
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(part), String::new()),
        })
        .collect()
}

/// The first value of `name` in `pairs`.
pub fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_pairs_decode_percent_and_plus() {
        let pairs = url_pairs("q=SELECT+Id%2C+Name+FROM+Account&limit=10&flag");
        assert_eq!(pair(&pairs, "q"), Some("SELECT Id, Name FROM Account"));
        assert_eq!(pair(&pairs, "limit"), Some("10"));
        assert_eq!(pair(&pairs, "flag"), Some(""));
        assert_eq!(pair(&pairs, "missing"), None);
    }
}
