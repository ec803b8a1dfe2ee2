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

/// How messages are signed: `jws` sends `{"jwt": ...}`; `standard_webhooks`
/// sends the plain message with `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers (HMAC-SHA256).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SignatureScheme {
    Jws,
    StandardWebhooks,
}

/// A webhook policy: every field, blank ones as `null`; never its key.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": 3, "nodeID": "aGVyYWxkLnRlc3QvV2ViaG9va1BvbGljeS8z",
    "name": "4f6c3a0e9b7d2c1f8e5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a",
    "disabled": false, "jwt_alg": "rs256", "jwt_audience": null,
    "jwt_claim_expires_in": 10, "signature_scheme": "jws", "openid_connect_discovery": true,
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
    signature_scheme: SignatureScheme,
    /// Messages name the policy as `iss` and their key as `kid`; the
    /// public keys are served at `<iss>/.well-known/openid-configuration`.
    openid_connect_discovery: bool,
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
    signature_scheme: SignatureScheme,
    openid_connect_discovery: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// `rs*` and `es*` policies: the SPKI PEM of the new key pair's public key.
    #[schema(required = false)]
    public_key_pem: String,
    /// `rs*` and `es*` policies: the key's JWK thumbprint (RFC 7638), the
    /// `kid` of messages under discovery.
    #[schema(required = false)]
    key_id: String,
    /// `hs*` policies: the HMAC secret, 64 URL-safe characters.
    #[schema(required = false)]
    jwt_secret: String,
    /// `standard_webhooks` policies: the secret, `whsec_` and base64.
    #[schema(required = false)]
    webhook_secret: String,
}

/// A policy after a rotation, with its new public key or secret: shown
/// this once.
#[derive(ToSchema)]
pub struct RotatedWebhookPolicy {
    id: i64,
    #[serde(rename = "nodeID")]
    node_id: String,
    name: String,
    disabled: bool,
    jwt_alg: JwtAlg,
    jwt_audience: Option<String>,
    jwt_claim_expires_in: Option<i64>,
    signature_scheme: SignatureScheme,
    openid_connect_discovery: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Until when the replaced key still verifies (in the JWKS, and as a
    /// second Standard Webhooks signature); `null` with no overlap.
    #[schema(format = DateTime)]
    overlap_ends_at: Option<String>,
    #[schema(required = false)]
    public_key_pem: String,
    #[schema(required = false)]
    key_id: String,
    #[schema(required = false)]
    jwt_secret: String,
    #[schema(required = false)]
    webhook_secret: String,
}

/// How long the replaced key keeps verifying.
#[derive(ToSchema)]
#[schema(example = json!({ "overlap": "24h" }))]
pub struct WebhookPolicyRotation {
    /// Whole seconds, or a duration such as `24h` or `90m`; at most 30
    /// days; 24 hours when absent. `0` drops the replaced key, and any
    /// earlier one still in its overlap, at once.
    #[schema(schema_with = overlap_input)]
    overlap: Option<String>,
}

fn overlap_input() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::Integer,
            Type::String,
            Type::Null,
        ]))
        .description(Some(
            "seconds (0 to 2592000), or a duration such as 24h or 90m; null or absent is 24h",
        ))
        .build()
}

/// A new policy.
#[derive(ToSchema)]
#[schema(example = json!({ "jwt_alg": "hs256", "jwt_audience": "https://receiver.example.com", "jwt_claim_expires_in": 10 }))]
pub struct NewWebhookPolicy {
    /// Any case; it cannot change later. Required for `jws`; `hs256` (or
    /// absent) for `standard_webhooks`.
    #[schema(required = false)]
    jwt_alg: JwtAlg,
    /// `jws` when absent; it cannot change later.
    signature_scheme: Option<SignatureScheme>,
    /// Only for `jws` policies with an `rs*`/`es*` key.
    #[schema(schema_with = boolean_input)]
    openid_connect_discovery: Option<bool>,
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
    /// If given, it must be the policy's.
    #[schema(required = false)]
    signature_scheme: SignatureScheme,
    #[schema(schema_with = boolean_input)]
    openid_connect_discovery: Option<bool>,
    #[schema(schema_with = boolean_input)]
    disabled: Option<bool>,
    #[schema(max_length = 2048)]
    jwt_audience: Option<String>,
    #[schema(minimum = 1, maximum = 525600)]
    jwt_claim_expires_in: Option<i64>,
}
