//! A policy as the API shows it, and the names Herald gives new ones.

use rand::RngCore;
use serde_json::{Map, Value, json};

use crate::api::state::AppState;
use crate::domain::node_id::node_id;
use crate::domain::policy::Policy;
use crate::domain::time::format_epoch;

/// 56 random hex characters.
pub(super) fn random_name() -> String {
    let mut bytes = [0u8; 28];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The full record: every field, blank ones as null. Never the key.
pub(super) fn record(state: &AppState, policy: &Policy) -> Map<String, Value> {
    let json = json!({
        "id": policy.id,
        "nodeID": node_id(&state.config.instance_domain, "WebhookPolicy", policy.id),
        "name": policy.name,
        "disabled": policy.disabled,
        "jwt_alg": policy.jwt_alg.as_str(),
        "jwt_audience": policy.jwt_audience,
        "jwt_claim_expires_in": policy.jwt_claim_expires_in,
        "signature_scheme": policy.signature_scheme.as_str(),
        "openid_connect_discovery": policy.openid_connect_discovery,
        "created_at": format_epoch(policy.created_at),
        "updated_at": format_epoch(policy.updated_at),
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}
