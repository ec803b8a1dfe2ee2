//! Bearer tokens and one-time codes: made at random, shown once, stored
//! only as a SHA-256 hash.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Tokens and codes are stored only as this hash.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random API token (256 bits), shown once.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("hrld_{}", hex::encode(bytes))
}

/// A verification code: 24 URL-safe random characters (144 bits).
pub fn verification_code() -> String {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A console session's secret (256 bits), kept by the browser in a cookie.
pub fn session_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The CSRF token of the forms of a session (or of a sign-in form) whose
/// secret is `secret`: a page can show it, and only who holds the secret
/// (the cookie, out of a script's reach) can make it.
pub fn csrf_token(secret: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"herald console csrf\0");
    digest.update(secret.as_bytes());
    hex::encode(digest.finalize())
}

/// Whether two tokens are equal, in a time that does not tell where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed_with_sha256() {
        let a = generate_token();
        assert!(a.starts_with("hrld_") && a.len() == 69);
        assert_ne!(a, generate_token());
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verification_codes_are_24_url_safe_characters() {
        let code = verification_code();
        assert_eq!(code.len(), 24);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(code, verification_code());
    }
}
