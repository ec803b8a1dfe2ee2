//! Herald's integration tests: one binary, the real router, real databases.
//! Grouped by what they exercise.

mod support;

/// The HTTP API, as clients see it: each resource, the collection
/// conventions, errors, authentication, connections, verification.
mod api {
    pub mod audit;
    mod audit_trail;
    mod auth;
    mod collection;
    mod connections;
    mod errors;
    pub mod events;
    mod fuzz;
    mod openapi;
    pub mod policies;
    mod tokens;
    pub mod verification;
    mod webhooks;
}

/// The web console: pages, sessions, forms, escaping.
mod console;

/// The store: its contract on both databases, the delivery queue,
/// concurrent writers, durability across crashes and processes, upgrades
/// of old databases.
mod store {
    mod concurrency;
    mod contract;
    mod durability;
    mod queue;
    mod upgrade;
}

/// Delivery to real receivers: the engine (retries, disabling, mails),
/// history and redelivery, signing, the SSRF guard.
mod delivery {
    mod engine;
    mod history;
    mod signing;
    mod ssrf;
}

/// The receiver's side: key discovery, rotation, Standard Webhooks
/// signatures checked by independent libraries, `herald listen` and
/// `herald trigger`.
mod receiver {
    pub mod discovery;
    mod listen;
    mod live;
    mod pasted_key;
    mod rotation;
    mod standard_webhooks;
}

/// What operators watch: metrics and their dashboards, logs, readiness.
mod ops {
    mod dashboards;
    mod logs;
    mod metrics;
    mod readiness;
}

/// The `herald` binary's commands.
mod cli;
/// Secrets at rest and in logs.
mod secrets;
/// `herald token` and what it does to running `herald serve` processes.
mod token_commands;
