//! Herald's integration tests: one binary, the real router, real databases.

mod support;

mod auth;
mod cli;
mod collection;
mod concurrency;
mod delivery;
mod durability;
mod errors;
mod events;
mod history;
mod policies;
mod signing;
mod ssrf;
mod store;
mod verification;
mod webhooks;
