//! Signs messages for webhooks with a policy (§5). Each policy's key is
//! unsealed and parsed once, then kept: keys never change.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::crypto::jws;
use crate::crypto::keys::SigningKey;
use crate::crypto::sealing::Sealer;
use crate::domain::policy::PolicyKey;

pub struct Signer {
    sealer: Sealer,
    keys: RwLock<HashMap<i64, Arc<SigningKey>>>,
}

/// What a JWT says besides its `data`.
pub struct ClaimsContext<'a> {
    pub webhook_id: i64,
    pub issuer: &'a str,
    /// Epoch seconds.
    pub now: i64,
}

impl Signer {
    pub fn new(sealer: Sealer) -> Signer {
        Signer {
            sealer,
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// A secret the server key sealed (a verification code), as text.
    pub fn unseal_text(&self, sealed: &[u8]) -> Result<String, String> {
        let plain = self
            .sealer
            .open(sealed)
            .map_err(|e| format!("cannot unseal: {e}"))?;
        String::from_utf8(plain.to_vec()).map_err(|_| "cannot unseal: not text".to_string())
    }

    /// `{"jwt": "<compact JWS>"}` carrying `data` with the §5 claims.
    pub fn envelope(
        &self,
        policy: &PolicyKey,
        data: &RawValue,
        context: &ClaimsContext,
    ) -> Result<String, String> {
        let key = self.key(policy)?;
        let claims = Claims {
            data,
            jti: jti(),
            sub: context.webhook_id.to_string(),
            iss: context.issuer,
            iat: context.now,
            nbf: context.now,
            aud: policy.jwt_audience.as_deref(),
            exp: policy
                .jwt_claim_expires_in
                .map(|minutes| context.now + 60 * minutes),
        };
        let claims = serde_json::to_string(&claims).map_err(|e| format!("cannot sign: {e}"))?;
        Ok(json!({ "jwt": jws::sign(policy.jwt_alg, &key, &claims) }).to_string())
    }

    fn key(&self, policy: &PolicyKey) -> Result<Arc<SigningKey>, String> {
        if let Some(key) = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&policy.id)
        {
            return Ok(key.clone());
        }
        let private = self
            .sealer
            .open(&policy.sealed_key)
            .map_err(|e| format!("cannot sign: {e}"))?;
        let key = Arc::new(
            SigningKey::load(policy.jwt_alg, &private).map_err(|e| format!("cannot sign: {e}"))?,
        );
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(policy.id, key.clone());
        Ok(key)
    }
}

/// The JWT's claims (§5), in this order.
#[derive(Serialize)]
struct Claims<'a> {
    data: &'a RawValue,
    jti: String,
    sub: String,
    iss: &'a str,
    iat: i64,
    nbf: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

/// 64 random hex characters, new for every attempt.
fn jti() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
