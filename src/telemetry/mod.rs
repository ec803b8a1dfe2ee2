//! What Herald tells its operators: Prometheus metrics, the periodic read
//! of the queue behind some of them, and the log's format.

pub mod labels;
pub mod logs;
pub mod metrics;
pub mod sampler;

pub use labels::{DisableReason, MailOutcome, Outcome};
pub use metrics::Metrics;
