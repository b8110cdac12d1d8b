//! Random secrets and how they are stored: 256 random bits as hex, kept only as SHA-256.

use rand::Rng;
use sha2::{Digest, Sha256};

/// 256 random bits, hex-encoded (64 characters).
pub fn random_hex() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a high-entropy token. A fast hash suffices: there is nothing to guess.
pub fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_64_hex_characters_and_differ() {
        let (a, b) = (random_hex(), random_hex());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(sha256(&a).len(), 32);
        assert_ne!(sha256(&a), sha256(&b));
    }
}
