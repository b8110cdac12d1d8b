//! Secrets at rest: AES-256-GCM with a key from configuration (`TERRANE_SECRET_KEY`).
//!
//! A sealed value is `version (1 byte) || nonce (12 bytes) || ciphertext+tag`. The associated
//! data names the column and row it belongs to, so a sealed value copied into another row or
//! column does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error(
        "TERRANE_SECRET_KEY must be 32 bytes in base64 (for example the output of `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error(
        "a sealed secret could not be opened: wrong TERRANE_SECRET_KEY, or the value was altered or moved"
    )]
    Open,
    #[error("a sealed secret has an unknown format")]
    Format,
}

/// The key that seals connection secrets. Debug output never shows it.
#[derive(Clone)]
pub struct SecretKey(Aes256Gcm);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl PartialEq for SecretKey {
    /// Keys are compared by what they seal; configuration equality needs this and it is only
    /// used in tests.
    fn eq(&self, other: &Self) -> bool {
        let sealed = self.seal(b"probe", b"eq");
        other.open(&sealed, b"eq").is_ok()
    }
}

impl SecretKey {
    /// Parses 32 bytes of standard base64.
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        Aes256Gcm::new_from_slice(&bytes)
            .map(Self)
            .map_err(|_| CryptoError::BadKey)
    }

    /// A fresh random key, base64 (what `terrane secret-key` prints).
    pub fn generate_base64() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// Encrypts `plain`, bound to `context` (for example `crm_connections.secrets:<id>`).
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            // AES-GCM encryption only fails for messages beyond 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Self::seal`] produced with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Format)?;
        if version != VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Format);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_base64(&SecretKey::generate_base64()).expect("generated keys parse")
    }

    #[test]
    fn sealed_values_open_with_the_same_key_and_context_only() {
        let k = key();
        let sealed = k.seal(b"refresh-token", b"row-1");
        assert!(
            !sealed.windows(7).any(|w| w == b"refresh"),
            "ciphertext hides the value"
        );
        assert_eq!(k.open(&sealed, b"row-1").expect("opens"), b"refresh-token");
        assert_eq!(k.open(&sealed, b"row-2"), Err(CryptoError::Open));
        assert_eq!(key().open(&sealed, b"row-1"), Err(CryptoError::Open));
    }

    #[test]
    fn a_flipped_byte_or_truncation_is_detected() {
        let k = key();
        let mut sealed = k.seal(b"secret", b"ctx");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(k.open(&sealed, b"ctx"), Err(CryptoError::Open));
        assert_eq!(k.open(&sealed[..10], b"ctx"), Err(CryptoError::Format));
        assert_eq!(k.open(&[], b"ctx"), Err(CryptoError::Format));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let k = key();
        assert_ne!(k.seal(b"same", b"c"), k.seal(b"same", b"c"));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert_eq!(
            SecretKey::from_base64("c2hvcnQ=").map(|_| ()),
            Err(CryptoError::BadKey)
        );
        assert_eq!(
            SecretKey::from_base64("not base64!").map(|_| ()),
            Err(CryptoError::BadKey)
        );
        assert!(format!("{:?}", key()).contains(".."));
    }
}
