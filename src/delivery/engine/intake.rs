//! Intake of handovers: deliveries this process's publishes leased to the
//! engine are joined with their webhooks and dispatched like claimed ones.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::dispatch::{Dispatcher, hand_back};
use crate::delivery::publish::Handover;
use crate::domain::time::now_millis;

/// Dispatches what publishes of this process hand over, until `shutdown`.
/// Each handover is loaded and dispatched by its own task, so small
/// publishes committed side by side do not wait in line for each other's
/// reads. Whatever is still in the channel at shutdown is dropped with its
/// slots, and goes back to the queue when the engine hands back all of its
/// leases.
pub(super) async fn take_handovers(
    dispatcher: Arc<Dispatcher>,
    mut handovers: mpsc::UnboundedReceiver<Handover>,
    shutdown: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = handovers.recv() => match next {
                Some(next) => next,
                None => break,
            },
        };
        dispatcher
            .tracker
            .spawn(load_and_dispatch(dispatcher.clone(), next));
    }
}

/// Reads the webhooks of one handover's deliveries and starts them.
async fn load_and_dispatch(dispatcher: Arc<Dispatcher>, handover: Handover) {
    let Handover {
        lease,
        leased,
        slots,
    } = handover;
    let c = dispatcher.context.as_ref();
    let ids: Vec<i64> = leased.iter().map(|l| l.id).collect();
    match c.store.with_webhooks(&lease.owner, leased).await {
        Ok(deliveries) => {
            dispatcher
                .dispatch(deliveries, lease.until_ms, Some(slots))
                .await;
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                count = ids.len(),
                "could not read the webhooks of deliveries handed over; handing them back"
            );
            hand_back(c.store.as_ref(), &c.worker, &ids, now_millis()).await;
        }
    }
}
