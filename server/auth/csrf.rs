//! CSRF tokens bound to the browser session (synchronizer pattern): forms carry the token in a
//! hidden field, cookie-authenticated API calls in the `x-csrf-token` header.

use tower_sessions::Session;

use super::secret;

const CSRF_KEY: &str = "csrf";

/// The session's token, created on first use. 256 random bits, hex-encoded.
pub async fn token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(t);
    }
    let t = secret::random_hex();
    session.insert(CSRF_KEY, &t).await?;
    Ok(t)
}

/// True when `presented` equals the session's token (compared in constant time).
pub async fn verify(
    session: &Session,
    presented: &str,
) -> Result<bool, tower_sessions::session::Error> {
    let Some(expected) = session.get::<String>(CSRF_KEY).await? else {
        return Ok(false);
    };
    Ok(constant_time_eq(expected.as_bytes(), presented.as_bytes()))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_every_byte_matches() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
