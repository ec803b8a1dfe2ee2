//! The bodies of the health checks and `GET /v1` as the document shows them.

#![allow(dead_code)]

use utoipa::ToSchema;

/// A health check that passed.
#[derive(ToSchema)]
#[schema(example = json!({ "status": "ok" }))]
pub struct Status {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    status: String,
}

/// `GET /v1`: an empty object.
#[derive(ToSchema)]
#[schema(example = json!({}))]
pub struct Empty {}
