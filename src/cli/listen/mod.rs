//! `herald listen`: real messages on a developer's machine. Serves a port
//! of loopback, makes a temporary webhook per event pointing at it (on a
//! Herald that may deliver there), prints what arrives, forwards it to the
//! app under development when asked, and deletes its webhooks on Ctrl-C or
//! SIGTERM.

mod receive;
mod verdict;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rand::RngCore;
use reqwest::Method;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::client::{Answer, Client, Target};
use crate::domain::EventName;
use receive::Session;
use verdict::ReceiverKey;

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    #[command(flatten)]
    pub target: Target,
    /// The events to receive, comma-separated [default: every catalogue event].
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// The port of 127.0.0.1 to serve [default: any free one].
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Send each message on to this URL, such as http://localhost:3000/hooks,
    /// and print its answer (which Herald then gets).
    #[arg(long)]
    pub forward_to: Option<String>,
    /// Sign the temporary webhooks' messages with this policy.
    #[arg(long)]
    pub policy_id: Option<i64>,
    /// Check messages with this policy secret: an hs* policy's
    /// `jwt_secret`, or a Standard Webhooks policy's `whsec_...`.
    #[arg(
        long,
        conflicts_with = "policy_key",
        env = "HERALD_POLICY_SECRET",
        hide_env_values = true
    )]
    pub policy_secret: Option<String>,
    /// Check messages with this rs*/es* policy's public key (PEM file).
    #[arg(long)]
    pub policy_key: Option<PathBuf>,
}

pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let events = chosen_events(&args.events)?;
    let session = Arc::new(Session {
        client: Client::new(args.target.clone())?,
        forward_to: args.forward_to.clone(),
        key: ReceiverKey::of(args.policy_key.as_deref(), args.policy_secret.clone())?,
    });
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{}", args.port))?;
    let uri = format!(
        "http://{}/herald-listen/{}",
        listener.local_addr()?,
        random_hex()
    );
    let stop = CancellationToken::new();
    let router = axum::Router::new()
        .fallback(receive::receive)
        .with_state(session.clone());
    let serving = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    let made = create_webhooks(&session.client, &events, &uri, args.policy_id).await;
    let result = match &made {
        Ok(ids) => {
            println!(
                "Ready: {} temporary webhook(s) deliver to {uri}; Ctrl-C to stop and delete them.",
                ids.len()
            );
            stopped().await
        }
        Err(_) => Ok(()),
    };
    let ids = match made {
        Ok(ids) => ids,
        Err(Made { ids, error }) => {
            delete_webhooks(&session.client, &ids).await;
            stop.cancel();
            return Err(error);
        }
    };
    delete_webhooks(&session.client, &ids).await;
    println!("Deleted {} temporary webhook(s).", ids.len());
    stop.cancel();
    let _ = serving.await;
    result
}

/// The events named, each checked against the catalogue, or all of them.
fn chosen_events(named: &[String]) -> anyhow::Result<Vec<String>> {
    if named.is_empty() {
        return Ok(EventName::catalogue().map(str::to_string).collect());
    }
    named
        .iter()
        .map(|name| {
            let name = name.trim();
            EventName::parse(name)
                .map(|e| e.as_str().to_string())
                .with_context(|| format!("{name:?} is not in the event catalogue"))
        })
        .collect()
}

/// Webhooks made before something failed, to delete, and the failure.
struct Made {
    ids: Vec<i64>,
    error: anyhow::Error,
}

async fn create_webhooks(
    client: &Client,
    events: &[String],
    uri: &str,
    policy_id: Option<i64>,
) -> Result<Vec<i64>, Made> {
    let mut ids = Vec::with_capacity(events.len());
    for event in events {
        let body = json!({
            "event": event,
            "uri": uri,
            "name": format!("herald listen: {event}"),
            "description": "Temporary webhook of `herald listen`; deleted when it stops",
            "webhook_policy_id": policy_id,
        });
        let answer = match client.call(Method::POST, "/v1/webhooks", Some(&body)).await {
            Ok(answer) => answer,
            Err(error) => return Err(Made { ids, error }),
        };
        if let Some(refusal) = refused_target(&answer, uri) {
            return Err(Made {
                ids,
                error: refusal,
            });
        }
        match answer.success(&format!("creating a webhook for {event}")) {
            Ok(made) => ids.extend(made["id"].as_i64()),
            Err(error) => return Err(Made { ids, error }),
        }
    }
    Ok(ids)
}

/// The SSRF guard's refusal of a loopback URI, explained.
fn refused_target(answer: &Answer, uri: &str) -> Option<anyhow::Error> {
    let (_, message) = answer
        .errors()
        .into_iter()
        .find(|(field, _)| field == "uri")?;
    Some(anyhow::anyhow!(
        "Herald refuses to deliver to {uri}: {message}.\n`herald listen` needs a Herald that \
         may deliver to this machine: a local or development Herald started with \
         --allow-private-targets (HERALD_ALLOW_PRIVATE_TARGETS=true), or one allowing \
         127.0.0.1/32 with --allow-target. Never allow private targets on a shared production Herald."
    ))
}

async fn delete_webhooks(client: &Client, ids: &[i64]) {
    for id in ids {
        let path = format!("/v1/webhooks/{id}");
        match client.call(Method::DELETE, &path, None).await {
            Ok(answer) if answer.status.is_success() => {}
            Ok(answer) => eprintln!(
                "could not delete webhook {id}: {} {}",
                answer.status, answer.body
            ),
            Err(error) => eprintln!("could not delete webhook {id}: {error:#}"),
        }
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
async fn stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("watching SIGTERM")?;
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.context("watching Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}
