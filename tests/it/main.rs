//! Herald's integration tests: one binary, the real router, real databases.

mod support;

mod auth;
mod cli;
mod collection;
mod concurrency;
mod errors;
mod store;
mod webhooks;
