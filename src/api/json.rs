//! Request bodies: JSON objects, with the contract's 400 and 413 answers.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match JsonBody::from_request(req, state).await?.0 {
            Value::Object(map) => Ok(JsonObject(map)),
            Value::Null => Ok(JsonObject(Map::new())),
            _ => Err(ApiError::BadRequest(
                "The request body must be a JSON object".into(),
            )),
        }
    }
}

/// Any JSON request body; an empty body is `null`.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(format!("Could not read the request body: {rejection}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        let value = serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
        if holds_nul(&value) {
            return Err(ApiError::BadRequest(
                "Text with NUL characters (\\u0000) is not accepted".into(),
            ));
        }
        Ok(JsonBody(value))
    }
}

/// Whether any string or key holds U+0000, which databases refuse in text.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}
