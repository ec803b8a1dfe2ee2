//! Recording: gathers attempt outcomes into batches, finishes each batch in
//! one transaction (an attempt only under a lease still held), and queues
//! the failure and disable mails its effects call for.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, mpsc};

use crate::config::Config;
use crate::domain::delivery::{AttemptResult, FailurePolicy, WebhookEffects};
use crate::domain::mail::{NewMail, disabled_mail, failure_mail};
use crate::domain::time::{now_epoch, now_millis};
use crate::store::{Store, StoreError};
use crate::telemetry::{DisableReason, Metrics};

/// Most outcomes recorded in one transaction.
pub(super) const MAX_RECORD_BATCH: usize = 512;

/// Records outcomes in batches until every lane task and the engine have
/// dropped their senders; queues the mails their effects call for.
pub(super) async fn record(
    store: Arc<Store>,
    config: Arc<Config>,
    mut outcomes: mpsc::Receiver<AttemptResult>,
    mail_wake: Arc<Notify>,
    metrics: Metrics,
) {
    let policy = FailurePolicy {
        disable_after_failures: i64::from(config.delivery.disable_after_failures),
        mail_interval_secs: config.mail.interval.as_secs() as i64,
    };
    let gather = store.record_gather();
    let mut batch = Vec::with_capacity(MAX_RECORD_BATCH);
    while outcomes.recv_many(&mut batch, MAX_RECORD_BATCH).await > 0 {
        gather_more(&mut outcomes, &mut batch, gather).await;
        let effects = finish(store.as_ref(), &batch, policy).await;
        count_disabled(&metrics, &batch, &effects);
        batch.clear();
        for effect in effects {
            if let Err(error) = queue_mails(store.as_ref(), &config, &effect).await {
                tracing::error!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    webhook = effect.webhook.id,
                    "could not queue a mail"
                );
            } else if effect.disabled_now || effect.failure_mail_due {
                mail_wake.notify_one();
            }
        }
    }
}

/// Counts the webhooks a batch disabled: at once by a `410 Gone`, or
/// after too many failures.
fn count_disabled(metrics: &Metrics, batch: &[AttemptResult], effects: &[WebhookEffects]) {
    for effect in effects.iter().filter(|e| e.disabled_now) {
        let gone = batch
            .iter()
            .any(|r| r.webhook_id == effect.webhook.id && r.gone);
        metrics.webhook_disabled(if gone {
            DisableReason::Gone
        } else {
            DisableReason::Failures
        });
    }
}

/// Outcomes that come within `gather` join a batch that has room.
async fn gather_more(
    outcomes: &mut mpsc::Receiver<AttemptResult>,
    batch: &mut Vec<AttemptResult>,
    gather: Duration,
) {
    if batch.len() < MAX_RECORD_BATCH && !gather.is_zero() {
        tokio::time::sleep(gather).await;
        let room = MAX_RECORD_BATCH - batch.len();
        outcomes.recv_many(batch, room).now_or_never();
    }
}

/// Finishes the batch's attempts, trying a few times; what then still
/// fails is not recorded: the leases run out and the deliveries are sent
/// again (at least once, never lost).
async fn finish(
    store: &Store,
    batch: &[AttemptResult],
    policy: FailurePolicy,
) -> Vec<WebhookEffects> {
    let mut tries = 0;
    loop {
        match store
            .finish_attempts(batch, policy, now_epoch(), now_millis())
            .await
        {
            Ok(effects) => return effects,
            Err(error) if tries < 5 => {
                tries += 1;
                tracing::warn!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    "recording attempts failed; retrying"
                );
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    count = batch.len(),
                    "could not record attempts"
                );
                return Vec::new();
            }
        }
    }
}

/// Queues a failure mail when one is due and a disable mail when the
/// webhook was just disabled, to its mail recipients.
async fn queue_mails(
    store: &Store,
    config: &Config,
    effect: &WebhookEffects,
) -> Result<(), StoreError> {
    if !effect.disabled_now && !effect.failure_mail_due {
        return Ok(());
    }
    let webhook = &effect.webhook;
    if effect.disabled_now {
        tracing::warn!(webhook = webhook.id, account = %webhook.account, error = ?webhook.last_error, "webhook disabled after failures");
    }
    let recipients = store.mail_recipients(&webhook.account, webhook.id).await?;
    if recipients.is_empty() {
        tracing::warn!(webhook = webhook.id, account = %webhook.account, "no one to mail about a failing webhook: no mail_exceptions_to and no administrator e-mail");
        return Ok(());
    }
    let account_url = config.account_url(webhook.account.as_str());
    let error = webhook.last_error.as_deref().unwrap_or("unknown error");
    let mut mails = Vec::new();
    if effect.failure_mail_due {
        mails.push(failure_mail(webhook, &account_url, error, effect.failures));
    }
    if effect.disabled_now {
        mails.push(disabled_mail(
            webhook,
            &account_url,
            &config.public_url,
            error,
        ));
    }
    for (subject, body) in mails {
        let mail = NewMail {
            account: webhook.account.to_string(),
            webhook_id: webhook.id,
            recipients: recipients.clone(),
            subject,
            body,
        };
        store.enqueue_mail(&mail, now_epoch(), now_millis()).await?;
    }
    Ok(())
}
