//! A policy's new key (on creation or rotation), and what of it the answer
//! shows this once: the public key and its `kid`, or the secret.

use serde_json::{Map, Value};

use crate::crypto::jwk;
use crate::crypto::keys::{self, Generated, SigningKey};
use crate::domain::policy::{JwtAlg, SignatureScheme};
use crate::error::{ApiError, ApiResult};

pub(crate) struct FreshKey {
    pub(crate) generated: Generated,
    /// The JWK thumbprint of a public key: the `kid` messages carry.
    pub(crate) key_id: Option<String>,
}

impl FreshKey {
    /// A new key for a policy signing by `scheme` with `alg`. RSA key
    /// generation takes a while: it runs off the async workers.
    pub(super) async fn generate(scheme: SignatureScheme, alg: JwtAlg) -> ApiResult<FreshKey> {
        tokio::task::spawn_blocking(move || {
            let generated = keys::generate_for(scheme, alg);
            let key_id = match scheme {
                SignatureScheme::Jws if alg.is_public_key() => {
                    SigningKey::load(alg, &generated.private)
                        .ok()
                        .and_then(|key| jwk::key_id(&key))
                }
                _ => None,
            };
            FreshKey { generated, key_id }
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
    }

    /// Adds `public_key_pem` and `key_id`, `jwt_secret` or `webhook_secret`
    /// to an answer.
    pub(super) fn show_once(self, answer: &mut Map<String, Value>) {
        let shown = [
            ("public_key_pem", self.generated.public_key_pem),
            ("key_id", self.key_id),
            ("jwt_secret", self.generated.jwt_secret),
            ("webhook_secret", self.generated.webhook_secret),
        ];
        for (field, value) in shown {
            if let Some(value) = value {
                answer.insert(field.into(), Value::String(value));
            }
        }
    }
}
