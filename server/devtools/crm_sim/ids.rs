//! Identifiers shaped like the vendors' (Salesforce 15/18-character ids, key prefixes).

use rand::Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 18-character form of a Salesforce id given in 15 or 18 characters; `None` when it is
/// not 15 or 18 ASCII letters and digits. An 18-character input is returned unchanged.
pub fn salesforce_id18(id: &str) -> Option<String> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        18 => Some(id.to_owned()),
        15 => Some(format!("{id}{}", case_checksum(id))),
        _ => None,
    }
}

/// Salesforce's three extra characters: one per 5-character block, whose bits say which
/// characters of the block are capital letters, written in the alphabet `A-Z0-5`.
fn case_checksum(id15: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut out = String::with_capacity(3);
    for block in id15.as_bytes().chunks(5) {
        let mut bits = 0usize;
        for (position, byte) in block.iter().enumerate() {
            if byte.is_ascii_uppercase() {
                bits |= 1 << position;
            }
        }
        out.push(char::from(ALPHABET[bits & 31]));
    }
    out
}

/// An 18-character Salesforce id: 3-character key prefix (e.g. `001` for Account, `04l` for
/// an outbound notification), a 6-character instance part, `counter` in base 62 over the
/// remaining 6 characters, then the checksum.
pub fn salesforce_id(prefix: &str, instance: &str, counter: u64) -> String {
    let mut digits = [b'0'; 6];
    let mut rest = counter;
    for digit in digits.iter_mut().rev() {
        // The remainder is below 62, so the cast is lossless.
        #[allow(clippy::cast_possible_truncation)]
        let index = (rest % 62) as usize;
        *digit = BASE62[index];
        rest /= 62;
    }
    let mut id15 = String::with_capacity(18);
    id15.push_str(prefix);
    id15.push_str(instance);
    id15.extend(digits.iter().map(|&b| char::from(b)));
    let checksum = case_checksum(&id15);
    id15.push_str(&checksum);
    id15
}

/// `len` random letters and digits.
pub fn random_alphanumeric(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_flags_capitals_per_block() {
        // Block 1 "001Sm": S at position 3 → bit 8 → 'I'. Blocks 2 and 3: no capitals → 'A'.
        assert_eq!(case_checksum("001Sm0000000001"), "IAA");
        assert_eq!(case_checksum("ABCDEabcde00000"), "5AA");
        assert_eq!(case_checksum("aaaaaaaaaaZZZZZ"), "AA5");
    }

    #[test]
    fn ids_are_18_characters_and_15_character_ids_are_extended() {
        let id = salesforce_id("001", "Sm0000", 63);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("001Sm000000001"));
        assert_eq!(salesforce_id18(&id[..15]).as_deref(), Some(id.as_str()));
        assert_eq!(salesforce_id18(&id).as_deref(), Some(id.as_str()));
        assert_eq!(salesforce_id18("001-bad"), None);
        assert_eq!(salesforce_id18("0015g00000"), None);
    }
}
