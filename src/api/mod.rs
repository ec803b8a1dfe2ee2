//! The HTTP API: one module per resource, plus the extractors they share.

pub mod auth;
pub mod collection;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod json;
pub mod listener;
pub mod rate_limit;
pub mod webhook_policies;
pub mod webhooks;

/// A record id from a path; one that is not a number names no record (404).
pub fn parse_id(text: &str) -> crate::error::ApiResult<i64> {
    text.parse::<i64>()
        .map_err(|_| crate::error::ApiError::NotFound)
}
