//! The fields a client may write to a webhook policy, read from a JSON
//! object by the rules of §5.

use serde_json::{Map, Value};

use crate::domain::ValidationErrors;
use crate::domain::policy::{JwtAlg, MAX_AUDIENCE_BYTES, MAX_EXPIRES_IN_MINUTES, SignatureScheme};

/// Readonly fields a client may send back; ignored.
const READONLY: [&str; 9] = [
    "id",
    "nodeID",
    "name",
    "created_at",
    "updated_at",
    "public_key_pem",
    "jwt_secret",
    "webhook_secret",
    "key_id",
];

#[derive(Default)]
pub(super) struct Input {
    pub(super) jwt_alg: Option<JwtAlg>,
    pub(super) disabled: Option<bool>,
    pub(super) jwt_audience: Option<Option<String>>,
    pub(super) jwt_claim_expires_in: Option<Option<i64>>,
    pub(super) signature_scheme: Option<SignatureScheme>,
    pub(super) openid_connect_discovery: Option<bool>,
    pub(super) errors: ValidationErrors,
}

impl Input {
    pub(super) fn read(body: Map<String, Value>) -> Input {
        let mut input = Input::default();
        for (key, value) in body {
            match key.as_str() {
                "jwt_alg" => match value.as_str().map(str::trim) {
                    Some("") | None if value.is_null() || value.as_str().is_some() => {
                        input.errors.add("jwt_alg", "Jwt alg can't be blank")
                    }
                    Some(name) => match JwtAlg::parse(&name.to_ascii_lowercase()) {
                        Some(alg) => input.jwt_alg = Some(alg),
                        None => input.errors.add("jwt_alg", "Jwt alg is not included in the list"),
                    },
                    None => input.errors.add("jwt_alg", "Jwt alg must be a string"),
                },
                "disabled" => match &value {
                    Value::Bool(b) => input.disabled = Some(*b),
                    Value::String(s) => input.disabled = Some(crate::domain::list::parse_bool_text(s)),
                    Value::Null => input.disabled = Some(false),
                    _ => input.errors.add("disabled", "Disabled must be true or false"),
                },
                "jwt_audience" => match &value {
                    Value::Null => input.jwt_audience = Some(None),
                    Value::String(s) if s.len() > MAX_AUDIENCE_BYTES => input
                        .errors
                        .add("jwt_audience", format!("Jwt audience is too long (maximum is {MAX_AUDIENCE_BYTES} bytes)")),
                    Value::String(s) => input.jwt_audience = Some((!s.is_empty()).then(|| s.clone())),
                    _ => input.errors.add("jwt_audience", "Jwt audience must be a string"),
                },
                "jwt_claim_expires_in" => match &value {
                    Value::Null => input.jwt_claim_expires_in = Some(None),
                    Value::Number(n) => match n.as_i64() {
                        Some(minutes @ 1..=MAX_EXPIRES_IN_MINUTES) => input.jwt_claim_expires_in = Some(Some(minutes)),
                        _ => input.errors.add(
                            "jwt_claim_expires_in",
                            format!("Jwt claim expires in must be whole minutes from 1 to {MAX_EXPIRES_IN_MINUTES}"),
                        ),
                    },
                    _ => input.errors.add("jwt_claim_expires_in", "Jwt claim expires in must be a number of minutes"),
                },
                "signature_scheme" => match value.as_str() {
                    Some(name) => match SignatureScheme::parse(&name.trim().to_ascii_lowercase()) {
                        Some(scheme) => input.signature_scheme = Some(scheme),
                        None => input.errors.add("signature_scheme", "Signature scheme is not included in the list"),
                    },
                    None if value.is_null() => input.signature_scheme = Some(SignatureScheme::Jws),
                    None => input.errors.add("signature_scheme", "Signature scheme must be a string"),
                },
                "openid_connect_discovery" => match &value {
                    Value::Bool(b) => input.openid_connect_discovery = Some(*b),
                    Value::String(s) => input.openid_connect_discovery = Some(crate::domain::list::parse_bool_text(s)),
                    Value::Null => input.openid_connect_discovery = Some(false),
                    _ => input.errors.add("openid_connect_discovery", "Openid connect discovery must be true or false"),
                },
                k if READONLY.contains(&k) => {}
                _ => input.errors.add(key.clone(), format!("{key} is not a known field")),
            }
        }
        input
    }
}
