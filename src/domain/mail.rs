//! Failure and disable mails about a webhook (§9).

use super::webhook::Webhook;

#[derive(Clone, Debug)]
pub struct NewMail {
    pub account: String,
    pub webhook_id: i64,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
}

#[derive(Clone, Debug)]
pub struct Mail {
    pub id: i64,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// The mail sent when an attempt fails (at most one per interval).
pub fn failure_mail(
    webhook: &Webhook,
    account_url: &str,
    error: &str,
    failures: i64,
) -> (String, String) {
    let subject = format!("Webhook {} ({}) failed: {error}", webhook.id, webhook.name);
    let body = format!(
        "A message to one of your webhooks could not be delivered.\n\n{}\
         Consecutive failed attempts: {failures}\n\n\
         Herald retries failed messages. After too many consecutive failures the\n\
         webhook is disabled and you will get another mail.\n",
        facts(webhook, account_url, error)
    );
    (subject, body)
}

/// The mail sent when a webhook is disabled by failures or a `410 Gone`.
pub fn disabled_mail(
    webhook: &Webhook,
    account_url: &str,
    public_url: &str,
    error: &str,
) -> (String, String) {
    let subject = format!("Webhook {} ({}) was disabled", webhook.id, webhook.name);
    let body = format!(
        "Herald disabled one of your webhooks: its messages kept failing.\n\n{}\n\
         It gets no messages while disabled. Once the receiver works again, enable it:\n\
         PATCH {public_url}/v1/webhooks/{id} with {{\"disabled\": false}}\n\
         New events are delivered from then on.\n",
        facts(webhook, account_url, error),
        id = webhook.id,
    );
    (subject, body)
}

/// What every mail names: the account, the webhook and the last error.
fn facts(webhook: &Webhook, account_url: &str, error: &str) -> String {
    format!(
        "Account: {} ({account_url})\nWebhook: {} ({})\nEvent: {}\nURI: {}\nLast error: {error}\n",
        webhook.account, webhook.id, webhook.name, webhook.event, webhook.uri
    )
}
