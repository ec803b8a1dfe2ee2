//! Standard Webhooks signatures: HMAC-SHA256 of `<id>.<timestamp>.<body>`
//! under a `whsec_` secret, sent as `webhook-signature: v1,<base64>` (one
//! signature per secret in use, space-separated).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// What the secret's text starts with.
pub const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;
/// How far a message's timestamp may be from the receiver's clock, as the
/// specification's libraries allow.
pub const TOLERANCE_SECS: i64 = 300;

/// A new secret: the key bytes to seal, and its text to show once.
pub fn generate() -> (Zeroizing<Vec<u8>>, String) {
    let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    OsRng.fill_bytes(bytes.as_mut());
    let text = format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes.as_slice()));
    (bytes, text)
}

/// The key bytes of a secret's text (`whsec_` optional).
pub fn secret_bytes(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let text = text.trim();
    let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
    STANDARD.decode(encoded).ok().map(Zeroizing::new)
}

/// `v1,<base64>`: the signature of a message under one key.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp {0} is more than 5 minutes from now")]
    OutOfTolerance(i64),
    #[error("no signature matches the secret")]
    NoMatch,
}

/// The headers a message came with.
pub struct Received<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signatures: Option<&'a str>,
}

/// Checks that one of the message's `v1` signatures is by `key` and its
/// timestamp within [`TOLERANCE_SECS`] of `now`.
pub fn verify(key: &[u8], received: &Received, body: &[u8], now: i64) -> Result<(), VerifyError> {
    let id = received.id.ok_or(VerifyError::MissingHeader(ID_HEADER))?;
    let timestamp = received
        .timestamp
        .ok_or(VerifyError::MissingHeader(TIMESTAMP_HEADER))?;
    let signatures = received
        .signatures
        .ok_or(VerifyError::MissingHeader(SIGNATURE_HEADER))?;
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(VerifyError::OutOfTolerance(timestamp));
    }
    let expected = signature(key, id, timestamp, body);
    let matches = signatures
        .split_whitespace()
        .any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_example_signs_as_published() {
        // The example of the Standard Webhooks specification.
        let key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verifies_any_of_several_signatures_within_tolerance() {
        let (old, old_text) = generate();
        let (new, _) = generate();
        assert!(old_text.starts_with(SECRET_PREFIX));
        assert_eq!(secret_bytes(&old_text).unwrap().as_slice(), old.as_slice());
        let body = b"{}";
        let both = format!(
            "{} {}",
            signature(&new, "m1", 1000, body),
            signature(&old, "m1", 1000, body)
        );
        let received = Received {
            id: Some("m1"),
            timestamp: Some("1000"),
            signatures: Some(&both),
        };
        assert_eq!(verify(&old, &received, body, 1000), Ok(()));
        assert_eq!(verify(&new, &received, body, 1200), Ok(()));
        assert_eq!(
            verify(&new, &received, body, 1301),
            Err(VerifyError::OutOfTolerance(1000))
        );
        assert_eq!(
            verify(&generate().0, &received, body, 1000),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(&old, &received, b"{ }", 1000),
            Err(VerifyError::NoMatch)
        );
    }
}
