//! Deletes finished deliveries, their attempts, and what only they needed,
//! once older than `--retention`, and changes of the audit trail older than
//! `--audit-retention`: in small batches with pauses, so delivery never
//! waits long for the database. Pending deliveries are never deleted.
//! Each sweep also erases the policy keys a rotation retired whose overlap
//! is over (they stopped counting when it ended; this removes them).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::event::IDEMPOTENCY_WINDOW_SECS;
use crate::domain::time::now_epoch;
use crate::store::Store;

const BATCH: i64 = 500;
const PAUSE: Duration = Duration::from_millis(50);
const EVERY: Duration = Duration::from_secs(600);

pub async fn run(
    store: Arc<Store>,
    retention: Duration,
    audit_retention: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let swept = match sweep(store.as_ref(), retention, &shutdown).await {
            Ok(_) => sweep_audit(store.as_ref(), audit_retention, &shutdown).await,
            Err(error) => Err(error),
        };
        let swept = match swept {
            Ok(_) => sweep_retired_keys(store.as_ref()).await,
            Err(error) => Err(error),
        };
        if let Err(error) = swept {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "retention sweep failed"
            );
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Deletes everything past retention now; returns how many rows went.
pub async fn sweep(
    store: &Store,
    retention: Duration,
    shutdown: &CancellationToken,
) -> Result<u64, crate::store::StoreError> {
    let now = now_epoch();
    let cutoff = now - retention.as_secs() as i64;
    let mut total = 0;
    loop {
        let removed = store
            .purge(cutoff, now - IDEMPOTENCY_WINDOW_SECS, BATCH)
            .await?;
        total += removed;
        if removed < BATCH as u64 || shutdown.is_cancelled() {
            break;
        }
        tokio::time::sleep(PAUSE).await;
    }
    if total > 0 {
        tracing::info!(removed = total, "retention: deleted old deliveries");
    }
    Ok(total)
}

/// Deletes the audit trail's changes older than `retention` now; returns
/// how many went.
pub async fn sweep_audit(
    store: &Store,
    retention: Duration,
    shutdown: &CancellationToken,
) -> Result<u64, crate::store::StoreError> {
    let cutoff = now_epoch() - retention.as_secs() as i64;
    let mut total = 0;
    loop {
        let removed = store.purge_audit_events(cutoff, BATCH).await?;
        total += removed;
        if removed < BATCH as u64 || shutdown.is_cancelled() {
            break;
        }
        tokio::time::sleep(PAUSE).await;
    }
    if total > 0 {
        tracing::info!(removed = total, "retention: deleted old audit events");
    }
    Ok(total)
}

/// Erases the retired policy keys whose overlap is over; returns how many
/// went.
pub async fn sweep_retired_keys(store: &Store) -> Result<u64, crate::store::StoreError> {
    let erased = store.erase_expired_policy_keys(now_epoch()).await?;
    if erased > 0 {
        tracing::info!(erased, "retention: erased retired policy keys");
    }
    Ok(erased)
}
