//! Delivering messages: the claim loop, the HTTP sender with its SSRF
//! guard, retries, and failure mails.

pub mod engine;
pub mod lanes;
pub mod mail;
pub mod message;
pub mod publish;
pub mod retention;
pub mod retry;
pub mod sender;
pub mod signing;
pub mod ssrf;

pub use engine::Engine;
pub use mail::Mailer;
