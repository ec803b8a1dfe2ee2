//! Delivering messages: publishing with its handoff, the engine (claim,
//! dispatch on per-webhook lanes, attempt, record, deferral), the HTTP
//! sender with its SSRF guard, signing, failure mails and retention.
//! `docs/architecture.md` draws the pipeline and defines its terms.

pub mod answer;
pub mod engine;
pub mod lanes;
pub mod mail;
pub mod message;
pub mod publish;
pub mod retention;
pub mod sender;
pub mod signing;
pub mod ssrf;

pub use engine::Engine;
pub use mail::Mailer;
