//! Sends queued mails over SMTP, apart from deliveries: a slow or dead
//! SMTP server delays only mails. Without an SMTP URL, mails are logged.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::MailConfig;
use crate::domain::mail::Mail;
use crate::domain::time::now_millis;
use crate::store::Store;
use crate::telemetry::{MailOutcome, Metrics};

/// Waits after the 1st, 2nd... failed try; then the mail is given up.
const RETRY_WAITS: [Duration; 4] = [
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(900),
    Duration::from_secs(3600),
];
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_POLL: Duration = Duration::from_secs(5);

pub struct Mailer {
    store: Arc<Store>,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    wake: Arc<Notify>,
    metrics: Metrics,
}

impl Mailer {
    pub fn new(
        store: Arc<Store>,
        config: &MailConfig,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Mailer> {
        let transport = match &config.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("smtp-url: {e}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            None => {
                tracing::warn!("no --smtp-url: failure mails are logged, not sent");
                None
            }
        };
        let from = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail-from: {e}"))?;
        Ok(Mailer {
            store,
            transport,
            from,
            wake,
            metrics: Metrics::default(),
        })
    }

    /// Counts mails sent, failed and logged in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Mailer {
        self.metrics = metrics;
        self
    }

    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let now = now_millis();
            let lease = now + (SMTP_TIMEOUT * 2).as_millis() as i64;
            let mails = match self.store.claim_mails(now, lease, 16).await {
                Ok(mails) => mails,
                Err(error) => {
                    tracing::error!(
                        error = format!("{:#}", anyhow::Error::from(error)),
                        "claiming mails failed"
                    );
                    Vec::new()
                }
            };
            if mails.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            for mail in mails {
                self.deliver(&mail).await;
            }
        }
    }

    /// Sends one mail and records how it went: sent, or due again later
    /// (given up after the last of [`RETRY_WAITS`]).
    async fn deliver(&self, mail: &Mail) {
        let (retry_at, error) = match self.send(mail).await {
            Ok(()) => {
                self.metrics.mail(match self.transport {
                    Some(_) => MailOutcome::Sent,
                    None => MailOutcome::Logged,
                });
                (None, None)
            }
            Err(error) => {
                self.metrics.mail(MailOutcome::Failed);
                let wait = RETRY_WAITS.get(mail.attempts as usize);
                tracing::warn!(mail = mail.id, %error, retry = wait.is_some(), "sending a mail failed");
                (
                    wait.map(|w| now_millis() + w.as_millis() as i64),
                    Some(error),
                )
            }
        };
        if let Err(e) = self
            .store
            .finish_mail(mail.id, retry_at, error.as_deref(), now_millis())
            .await
        {
            tracing::error!(
                error = format!("{:#}", anyhow::Error::from(e)),
                mail = mail.id,
                "recording a mail failed"
            );
        }
    }

    async fn send(&self, mail: &Mail) -> Result<(), String> {
        let Some(transport) = &self.transport else {
            tracing::info!(
                to = mail.recipients.join(","),
                subject = mail.subject,
                "mail not sent (no --smtp-url)"
            );
            tracing::debug!(body = mail.body, "the mail not sent");
            return Ok(());
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(&mail.subject);
        for recipient in &mail.recipients {
            let to: Mailbox = recipient
                .parse()
                .map_err(|e| format!("recipient {recipient:?}: {e}"))?;
            builder = builder.to(to);
        }
        let message = builder.body(mail.body.clone()).map_err(|e| e.to_string())?;
        transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
