//! Cryptography for signed messages: key pairs and secrets, JWS signing and
//! verification, and sealing private keys at rest.

pub mod jws;
pub mod keys;
pub mod sealing;
