//! The bodies of the Webhook Policies API (§5) as the document shows them.

#![allow(dead_code)]

use utoipa::ToSchema;

use super::listed::listed_schema;
use super::webhooks::boolean_input;

/// How messages are signed: `none` sends an unsigned JWT.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum JwtAlg {
    None,
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    Es512,
}

/// A webhook policy: every field, blank ones as `null`; never its key.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": 3, "nodeID": "aGVyYWxkLnRlc3QvV2ViaG9va1BvbGljeS8z",
    "name": "4f6c3a0e9b7d2c1f8e5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a",
    "disabled": false, "jwt_alg": "rs256", "jwt_audience": null,
    "jwt_claim_expires_in": 10,
    "created_at": "2016-03-17T22:36:11+00:00", "updated_at": "2016-03-17T22:36:11+00:00"
}))]
pub struct WebhookPolicy {
    id: i64,
    #[serde(rename = "nodeID")]
    node_id: String,
    /// 56 random hex characters made by Herald.
    name: String,
    disabled: bool,
    jwt_alg: JwtAlg,
    /// The `aud` claim.
    jwt_audience: Option<String>,
    /// Minutes: `exp = iat + 60 × minutes`.
    jwt_claim_expires_in: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

listed_schema!(
    WebhookPolicyListItem,
    WebhookPolicy,
    "A policy in a collection: `id`, `name`, `created_at`, `updated_at`, or the fields `?fields=` picks"
);

/// A new policy, with its public key or secret: shown this once.
#[derive(ToSchema)]
pub struct CreatedWebhookPolicy {
    id: i64,
    #[serde(rename = "nodeID")]
    node_id: String,
    name: String,
    disabled: bool,
    jwt_alg: JwtAlg,
    jwt_audience: Option<String>,
    jwt_claim_expires_in: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// `rs*` and `es*` policies: the SPKI PEM of the new key pair's public key.
    #[schema(required = false)]
    public_key_pem: String,
    /// `hs*` policies: the HMAC secret, 64 URL-safe characters.
    #[schema(required = false)]
    jwt_secret: String,
}

/// A new policy.
#[derive(ToSchema)]
#[schema(example = json!({ "jwt_alg": "hs256", "jwt_audience": "https://receiver.example.com", "jwt_claim_expires_in": 10 }))]
pub struct NewWebhookPolicy {
    /// Any case; it cannot change later.
    jwt_alg: JwtAlg,
    #[schema(schema_with = boolean_input)]
    disabled: Option<bool>,
    /// At most 2 KiB.
    #[schema(max_length = 2048)]
    jwt_audience: Option<String>,
    #[schema(minimum = 1, maximum = 525600)]
    jwt_claim_expires_in: Option<i64>,
}

/// Changes to a policy; `jwt_alg`, if given, must be the policy's.
#[derive(ToSchema)]
#[schema(example = json!({ "disabled": true }))]
pub struct WebhookPolicyChanges {
    #[schema(required = false)]
    jwt_alg: JwtAlg,
    #[schema(schema_with = boolean_input)]
    disabled: Option<bool>,
    #[schema(max_length = 2048)]
    jwt_audience: Option<String>,
    #[schema(minimum = 1, maximum = 525600)]
    jwt_claim_expires_in: Option<i64>,
}
