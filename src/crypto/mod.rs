//! Cryptography: key pairs and secrets, JWS signing and verification,
//! public keys as JWKs, Standard Webhooks signatures, sealing secrets at
//! rest, and tokens stored as hashes.

pub mod jwk;
pub mod jws;
pub mod keys;
pub mod sealing;
pub mod standard_webhooks;
pub mod tokens;
