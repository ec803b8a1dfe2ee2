//! Public keys as JSON Web Keys (RFC 7517), named by their RFC 7638
//! thumbprint: the `kid` of a JWS header and of its key in a JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p521::elliptic_curve::sec1::ToEncodedPoint;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::keys::SigningKey;
use crate::domain::policy::JwtAlg;

/// The public half of a signing key, as a JWK with its `kid`; `None` for
/// keys that have no public half (HMAC secrets, `none`).
pub fn public_jwk(alg: JwtAlg, key: &SigningKey) -> Option<Map<String, Value>> {
    let members = required_members(key)?;
    let mut jwk = members.clone();
    jwk.insert("kid".into(), Value::String(thumbprint(&members)));
    jwk.insert("use".into(), Value::String("sig".into()));
    jwk.insert("alg".into(), Value::String(alg.jws_name().into()));
    Some(jwk)
}

/// The `kid` of a signing key: its JWK thumbprint.
pub fn key_id(key: &SigningKey) -> Option<String> {
    required_members(key).map(|members| thumbprint(&members))
}

/// The members RFC 7638 hashes, in its order (lexicographic).
fn required_members(key: &SigningKey) -> Option<Map<String, Value>> {
    let b64 = |bytes: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(bytes));
    let curve = |crv: &str, x: &[u8], y: &[u8]| json!({ "crv": crv, "kty": "EC", "x": b64(x), "y": b64(y) });
    let value = match key {
        SigningKey::None | SigningKey::Hmac(..) => return None,
        SigningKey::Rsa(_, private) => json!({
            "e": b64(&private.e().to_bytes_be()),
            "kty": "RSA",
            "n": b64(&private.n().to_bytes_be()),
        }),
        SigningKey::P256(key) => {
            let point = key.verifying_key().to_encoded_point(false);
            curve("P-256", point.x()?, point.y()?)
        }
        SigningKey::P384(key) => {
            let point = key.verifying_key().to_encoded_point(false);
            curve("P-384", point.x()?, point.y()?)
        }
        SigningKey::P521(key) => {
            let point = p521::PublicKey::from_secret_scalar(key.as_nonzero_scalar())
                .to_encoded_point(false);
            curve("P-521", point.x()?, point.y()?)
        }
    };
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// SHA-256 of the members serialised without whitespace, keys sorted.
fn thumbprint(members: &Map<String, Value>) -> String {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let canonical: Map<String, Value> = sorted
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let text = Value::Object(canonical).to_string();
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::generate;

    fn loaded(alg: JwtAlg) -> SigningKey {
        SigningKey::load(alg, &generate(alg).private).unwrap()
    }

    #[test]
    fn rfc_7638_example_thumbprint() {
        // RFC 7638 §3.1's RSA key and thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = match json!({ "e": "AQAB", "kty": "RSA", "n": n }) {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn public_keys_are_jwks_named_by_thumbprint() {
        for (alg, kty, crv) in [
            (JwtAlg::Rs256, "RSA", None),
            (JwtAlg::Es256, "EC", Some("P-256")),
            (JwtAlg::Es384, "EC", Some("P-384")),
            (JwtAlg::Es512, "EC", Some("P-521")),
        ] {
            let key = loaded(alg);
            let jwk = public_jwk(alg, &key).unwrap();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk.get("crv").and_then(Value::as_str), crv);
            assert_eq!(jwk["alg"], alg.jws_name());
            assert_eq!(jwk["kid"].as_str(), key_id(&key).as_deref());
            assert!(!jwk.contains_key("d"), "no private part");
        }
        assert_ne!(
            key_id(&loaded(JwtAlg::Es256)),
            key_id(&loaded(JwtAlg::Es256))
        );
        assert!(public_jwk(JwtAlg::Hs256, &loaded(JwtAlg::Hs256)).is_none());
    }
}
