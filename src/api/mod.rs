//! The HTTP API: one module per resource, plus the extractors they share.

pub mod auth;
pub mod collection;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod json;
pub mod rate_limit;
pub mod webhook_policies;
pub mod webhooks;
