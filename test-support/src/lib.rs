//! What Herald's integration tests and herald-bench both need: a
//! PostgreSQL schema of their own for each test or run, and `herald serve`
//! as a child process.

pub mod child;
mod schema;

pub use schema::Schema;
