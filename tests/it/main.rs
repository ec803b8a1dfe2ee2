//! Herald's integration tests: one binary, the real router, real databases.

mod support;

mod auth;
mod cli;
mod collection;
mod concurrency;
mod delivery;
mod errors;
mod events;
mod store;
mod webhooks;
