//! Policy keys: generated on creation, parsed once for signing, and public
//! keys read back from PEM for verifying.

use hmac::{Hmac, Mac};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rand::RngCore;
use rand::rngs::OsRng;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::standard_webhooks;
use crate::domain::policy::{JwtAlg, SignatureScheme};

const RSA_BITS: usize = 2048;
const HMAC_SECRET_BYTES: usize = 48;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("stored key of a {0} policy cannot be read")]
    Unreadable(JwtAlg),
    #[error("not a PEM public key (SPKI) of RSA or P-256/P-384/P-521")]
    NotAPublicKey,
    #[error("a {key} key cannot check an {alg} signature")]
    WrongKind {
        key: &'static str,
        alg: &'static str,
    },
}

/// A new policy's key: what to seal and keep, and what to show once.
pub struct Generated {
    /// PKCS#8 DER of the private key, the HMAC secret, or nothing for `none`.
    pub private: Zeroizing<Vec<u8>>,
    pub public_key_pem: Option<String>,
    pub jwt_secret: Option<String>,
    /// A Standard Webhooks secret, `whsec_...`.
    pub webhook_secret: Option<String>,
}

/// A new key for a policy that signs by `scheme` (with `alg`, for JWS).
pub fn generate_for(scheme: SignatureScheme, alg: JwtAlg) -> Generated {
    match scheme {
        SignatureScheme::Jws => generate(alg),
        SignatureScheme::StandardWebhooks => {
            let (private, secret) = standard_webhooks::generate();
            Generated {
                private,
                public_key_pem: None,
                jwt_secret: None,
                webhook_secret: Some(secret),
            }
        }
    }
}

pub fn generate(alg: JwtAlg) -> Generated {
    let mut generated = Generated {
        private: Zeroizing::new(Vec::new()),
        public_key_pem: None,
        jwt_secret: None,
        webhook_secret: None,
    };
    match alg {
        JwtAlg::None => {}
        JwtAlg::Hs256 | JwtAlg::Hs384 | JwtAlg::Hs512 => {
            use base64::Engine;
            let mut bytes = Zeroizing::new([0u8; HMAC_SECRET_BYTES]);
            OsRng.fill_bytes(bytes.as_mut());
            let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref());
            // The HMAC key is the secret's text, as the receiver gets it.
            generated.private = Zeroizing::new(secret.as_bytes().to_vec());
            generated.jwt_secret = Some(secret);
        }
        JwtAlg::Rs256 | JwtAlg::Rs384 | JwtAlg::Rs512 => {
            let private =
                rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).expect("RSA key generation");
            generated.private =
                Zeroizing::new(private.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec());
            generated.public_key_pem = Some(
                private
                    .to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .expect("PEM"),
            );
        }
        JwtAlg::Es256 => {
            let secret = p256::SecretKey::random(&mut OsRng);
            generated.private =
                Zeroizing::new(secret.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec());
            generated.public_key_pem = Some(
                secret
                    .public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .expect("PEM"),
            );
        }
        JwtAlg::Es384 => {
            let secret = p384::SecretKey::random(&mut OsRng);
            generated.private =
                Zeroizing::new(secret.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec());
            generated.public_key_pem = Some(
                secret
                    .public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .expect("PEM"),
            );
        }
        JwtAlg::Es512 => {
            let secret = p521::SecretKey::random(&mut OsRng);
            generated.private =
                Zeroizing::new(secret.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec());
            generated.public_key_pem = Some(
                secret
                    .public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .expect("PEM"),
            );
        }
    }
    generated
}

/// A parsed private key or secret, ready to sign many messages.
pub enum SigningKey {
    None,
    Hmac(JwtAlg, Zeroizing<Vec<u8>>),
    Rsa(JwtAlg, Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(Box<p521::ecdsa::SigningKey>),
}

impl SigningKey {
    /// Reads the unsealed key material of a policy.
    pub fn load(alg: JwtAlg, private: &[u8]) -> Result<SigningKey, KeyError> {
        Ok(match alg {
            JwtAlg::None => SigningKey::None,
            JwtAlg::Hs256 | JwtAlg::Hs384 | JwtAlg::Hs512 => {
                SigningKey::Hmac(alg, Zeroizing::new(private.to_vec()))
            }
            JwtAlg::Rs256 | JwtAlg::Rs384 | JwtAlg::Rs512 => SigningKey::Rsa(
                alg,
                Box::new(
                    rsa::RsaPrivateKey::from_pkcs8_der(private)
                        .map_err(|_| KeyError::Unreadable(alg))?,
                ),
            ),
            JwtAlg::Es256 => SigningKey::P256(
                p256::SecretKey::from_pkcs8_der(private)
                    .map_err(|_| KeyError::Unreadable(alg))?
                    .into(),
            ),
            JwtAlg::Es384 => SigningKey::P384(
                p384::SecretKey::from_pkcs8_der(private)
                    .map_err(|_| KeyError::Unreadable(alg))?
                    .into(),
            ),
            JwtAlg::Es512 => {
                let secret = p521::SecretKey::from_pkcs8_der(private)
                    .map_err(|_| KeyError::Unreadable(alg))?;
                let key = p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes())
                    .map_err(|_| KeyError::Unreadable(alg))?;
                SigningKey::P521(Box::new(key))
            }
        })
    }

    /// The JWS signature of `input` (empty for `none`).
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::None => Vec::new(),
            SigningKey::Hmac(alg, secret) => hmac_tag(*alg, secret, input),
            SigningKey::Rsa(alg, key) => {
                let key = key.as_ref().clone();
                match alg {
                    JwtAlg::Rs384 => rsa::pkcs1v15::SigningKey::<Sha384>::new(key)
                        .sign(input)
                        .to_vec(),
                    JwtAlg::Rs512 => rsa::pkcs1v15::SigningKey::<Sha512>::new(key)
                        .sign(input)
                        .to_vec(),
                    _ => rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
                        .sign(input)
                        .to_vec(),
                }
            }
            SigningKey::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            SigningKey::P384(key) => {
                let signature: p384::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            SigningKey::P521(key) => {
                let signature: p521::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
        }
    }
}

fn hmac_tag(alg: JwtAlg, secret: &[u8], input: &[u8]) -> Vec<u8> {
    macro_rules! tag {
        ($hash:ty) => {{
            let mut mac = Hmac::<$hash>::new_from_slice(secret).expect("HMAC takes any key length");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        JwtAlg::Hs384 => tag!(Sha384),
        JwtAlg::Hs512 => tag!(Sha512),
        _ => tag!(Sha256),
    }
}

/// A key that checks signatures: a public key from PEM, or an HMAC secret.
pub enum VerifyingKey {
    Hmac(Zeroizing<Vec<u8>>),
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl VerifyingKey {
    /// An SPKI PEM (`-----BEGIN PUBLIC KEY-----`) of RSA or a NIST curve.
    pub fn from_public_pem(pem: &str) -> Result<VerifyingKey, KeyError> {
        if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::Rsa(key));
        }
        if let Ok(key) = p256::PublicKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::P256(key.into()));
        }
        if let Ok(key) = p384::PublicKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::P384(key.into()));
        }
        if let Ok(key) = p521::PublicKey::from_public_key_pem(pem) {
            let key = p521::ecdsa::VerifyingKey::from_affine(*key.as_affine())
                .map_err(|_| KeyError::NotAPublicKey)?;
            return Ok(VerifyingKey::P521(key));
        }
        Err(KeyError::NotAPublicKey)
    }

    pub fn hmac(secret: &[u8]) -> VerifyingKey {
        VerifyingKey::Hmac(Zeroizing::new(secret.to_vec()))
    }

    /// Whether `signature` is `alg`'s signature of `input` under this key.
    pub fn verify(&self, alg: JwtAlg, input: &[u8], signature: &[u8]) -> Result<bool, KeyError> {
        let wrong = |key| KeyError::WrongKind {
            key,
            alg: alg.jws_name(),
        };
        Ok(match (self, alg) {
            (VerifyingKey::Hmac(secret), JwtAlg::Hs256 | JwtAlg::Hs384 | JwtAlg::Hs512) => {
                macro_rules! check {
                    ($hash:ty) => {{
                        let mut mac = Hmac::<$hash>::new_from_slice(secret)
                            .expect("HMAC takes any key length");
                        mac.update(input);
                        mac.verify_slice(signature).is_ok()
                    }};
                }
                match alg {
                    JwtAlg::Hs384 => check!(Sha384),
                    JwtAlg::Hs512 => check!(Sha512),
                    _ => check!(Sha256),
                }
            }
            (VerifyingKey::Rsa(key), JwtAlg::Rs256 | JwtAlg::Rs384 | JwtAlg::Rs512) => {
                let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return Ok(false);
                };
                let key = key.clone();
                match alg {
                    JwtAlg::Rs384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key)
                        .verify(input, &signature)
                        .is_ok(),
                    JwtAlg::Rs512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key)
                        .verify(input, &signature)
                        .is_ok(),
                    _ => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
                        .verify(input, &signature)
                        .is_ok(),
                }
            }
            (VerifyingKey::P256(key), JwtAlg::Es256) => {
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|s| key.verify(input, &s).is_ok())
            }
            (VerifyingKey::P384(key), JwtAlg::Es384) => {
                p384::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|s| key.verify(input, &s).is_ok())
            }
            (VerifyingKey::P521(key), JwtAlg::Es512) => {
                p521::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|s| key.verify(input, &s).is_ok())
            }
            (VerifyingKey::Hmac(_), _) => return Err(wrong("HMAC")),
            (VerifyingKey::Rsa(_), _) => return Err(wrong("RSA")),
            (VerifyingKey::P256(_), _) => return Err(wrong("P-256")),
            (VerifyingKey::P384(_), _) => return Err(wrong("P-384")),
            (VerifyingKey::P521(_), _) => return Err(wrong("P-521")),
        })
    }
}
