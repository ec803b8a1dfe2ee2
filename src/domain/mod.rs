//! Pure types and rules of Herald: no HTTP, no SQL, no I/O.

pub mod account;
pub mod audit;
pub mod delivery;
pub mod event;
pub mod event_name;
pub mod list;
pub mod mail;
pub mod node_id;
pub mod policy;
pub mod retry;
pub mod target;
pub mod time;
pub mod token;
pub mod validation;
pub mod webhook;

pub use account::{AccountId, Caller, Role};
pub use event_name::EventName;
pub use validation::ValidationErrors;
pub use webhook::{Attachment, NewWebhook, Verification, Webhook, WebhookChanges};
