//! Herald's integration tests: one binary, the real router, real databases.

mod support;

mod audit;
mod audit_trail;
mod auth;
mod cli;
mod collection;
mod concurrency;
mod connections;
mod delivery;
mod durability;
mod errors;
mod events;
mod fuzz;
mod history;
mod policies;
mod secrets;
mod signing;
mod ssrf;
mod store;
mod token_commands;
mod tokens;
mod upgrade;
mod verification;
mod webhooks;
