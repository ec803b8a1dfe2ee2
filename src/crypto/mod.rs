//! Cryptography: key pairs and secrets, JWS signing and verification,
//! sealing secrets at rest, and tokens stored as hashes.

pub mod jws;
pub mod keys;
pub mod sealing;
pub mod tokens;
