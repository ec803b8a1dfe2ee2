//! Signs messages for webhooks with a policy (§5): a JWS envelope, or
//! Standard Webhooks headers. Each policy's key is unsealed and parsed
//! once, then kept until a rotation gives the policy another.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::crypto::keys::SigningKey;
use crate::crypto::sealing::Sealer;
use crate::crypto::{jwk, jws, standard_webhooks};
use crate::domain::policy::{JwtAlg, PolicyKey, SignatureScheme};

pub struct Signer {
    sealer: Sealer,
    /// Per policy: its key as last parsed.
    keys: RwLock<HashMap<i64, Arc<Loaded>>>,
}

/// A parsed key, the sealed bytes it came from (a rotation changes them),
/// and its `kid` (public keys only).
struct Loaded {
    sealed: Vec<u8>,
    key: SigningKey,
    kid: Option<String>,
}

/// What a signed message says besides its `data`.
pub struct SigningContext<'a> {
    pub webhook_id: i64,
    /// The `iss` claim: the account URL, or the policy's discovery issuer.
    pub issuer: &'a str,
    /// The message's id (the delivery's UUID): Standard Webhooks' `webhook-id`.
    pub message_id: &'a str,
    /// Epoch seconds.
    pub now: i64,
}

/// A signed message: the body to send and the headers that go with it.
pub struct Signed {
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
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

    /// The message `data` signed as `policy` says.
    pub fn sign(
        &self,
        policy: &PolicyKey,
        data: &RawValue,
        context: &SigningContext,
    ) -> Result<Signed, String> {
        match policy.signature_scheme {
            SignatureScheme::Jws => Ok(Signed {
                body: self.envelope(policy, data, context)?,
                headers: Vec::new(),
            }),
            SignatureScheme::StandardWebhooks => self.standard_webhooks(policy, data, context),
        }
    }

    /// `{"jwt": "<compact JWS>"}` carrying `data` with the §5 claims; the
    /// header names the key (`kid`) when the policy has discovery.
    fn envelope(
        &self,
        policy: &PolicyKey,
        data: &RawValue,
        context: &SigningContext,
    ) -> Result<String, String> {
        let loaded = self.key(policy)?;
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
        let kid = loaded
            .kid
            .as_deref()
            .filter(|_| policy.openid_connect_discovery);
        let token = jws::sign(policy.jwt_alg, &loaded.key, kid, &claims);
        Ok(json!({ "jwt": token }).to_string())
    }

    /// The plain message with `webhook-*` headers: a signature by the
    /// current secret, then one by each retired secret still in its overlap.
    fn standard_webhooks(
        &self,
        policy: &PolicyKey,
        data: &RawValue,
        context: &SigningContext,
    ) -> Result<Signed, String> {
        let body = data.get().to_string();
        let sign = |secret: &[u8]| {
            standard_webhooks::signature(secret, context.message_id, context.now, body.as_bytes())
        };
        let current = self.key(policy)?;
        let SigningKey::Hmac(_, secret) = &current.key else {
            return Err("cannot sign: a Standard Webhooks policy without a secret".into());
        };
        let mut signatures = vec![sign(secret)];
        for retired in &policy.retired {
            let secret = self
                .sealer
                .open(&retired.sealed_key)
                .map_err(|e| format!("cannot sign: {e}"))?;
            signatures.push(sign(&secret));
        }
        Ok(Signed {
            headers: vec![
                (standard_webhooks::ID_HEADER, context.message_id.to_string()),
                (standard_webhooks::TIMESTAMP_HEADER, context.now.to_string()),
                (standard_webhooks::SIGNATURE_HEADER, signatures.join(" ")),
            ],
            body,
        })
    }

    /// The policy's current key, parsed once per key.
    fn key(&self, policy: &PolicyKey) -> Result<Arc<Loaded>, String> {
        if let Some(key) = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&policy.id)
            && key.sealed == policy.sealed_key
        {
            return Ok(key.clone());
        }
        let private = self
            .sealer
            .open(&policy.sealed_key)
            .map_err(|e| format!("cannot sign: {e}"))?;
        // A Standard Webhooks secret is an HMAC-SHA256 key.
        let alg = match policy.signature_scheme {
            SignatureScheme::Jws => policy.jwt_alg,
            SignatureScheme::StandardWebhooks => JwtAlg::Hs256,
        };
        let key = SigningKey::load(alg, &private).map_err(|e| format!("cannot sign: {e}"))?;
        let loaded = Arc::new(Loaded {
            sealed: policy.sealed_key.clone(),
            kid: jwk::key_id(&key),
            key,
        });
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(policy.id, loaded.clone());
        Ok(loaded)
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
