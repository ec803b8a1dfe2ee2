//! What Herald's integration tests and herald-bench both need: a
//! PostgreSQL schema of their own for each test or run.

mod schema;

pub use schema::Schema;
