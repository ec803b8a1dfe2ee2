//! `herald verify`: checks a signed message as a receiver would.

use std::path::PathBuf;

use anyhow::Context;

use crate::crypto::jws;
use crate::crypto::keys::VerifyingKey;
use crate::domain::time::now_epoch;

/// The key a message is checked with.
pub(super) struct Key(VerifyingKey);

impl Key {
    /// A policy's public key (PEM file), or an hs* policy's secret (a file
    /// holding it).
    pub(super) fn of(
        public_key: Option<PathBuf>,
        secret_file: Option<PathBuf>,
    ) -> anyhow::Result<Key> {
        let key = match (public_key, secret_file) {
            (Some(path), _) => {
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                VerifyingKey::from_public_pem(&pem)?
            }
            (None, Some(path)) => {
                let secret = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                VerifyingKey::hmac(secret.trim().as_bytes())
            }
            (None, None) => anyhow::bail!("give --public-key or --secret-file"),
        };
        Ok(Key(key))
    }
}

/// Reads a received body on stdin, verifies it and prints its `data` claim.
pub(super) fn verify(
    key: Key,
    audience: Option<String>,
    issuer: Option<String>,
    leeway: i64,
) -> anyhow::Result<()> {
    let mut body = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut body).context("reading stdin")?;
    let expect = jws::Expectations {
        audience,
        issuer,
        now: now_epoch(),
        leeway,
    };
    let claims = jws::verify(&jws::token_of(&body)?, &key.0, &expect).context("invalid message")?;
    println!("{}", claims["data"]);
    Ok(())
}
