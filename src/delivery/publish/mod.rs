//! Publishing: group commit of the events requests publish, and the
//! handoff of their new deliveries straight to this process's engine.

pub mod group_commit;
pub mod handoff;

pub use group_commit::Publisher;
pub use handoff::{Handoff, Handover, Offer};
