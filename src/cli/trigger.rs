//! `herald trigger <event>`: publishes a realistic sample of a catalogue
//! event (`samples/events.json`), with what the flags change, to a running
//! Herald, as the host application would.

use std::sync::OnceLock;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Map, Value};

use super::client::Client;
pub use super::client::Target;
use crate::domain::EventName;

const SAMPLES: &str = include_str!("../../samples/events.json");

#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// A catalogue event, such as request.note-added.
    pub event: String,
    #[command(flatten)]
    pub target: Target,
    /// The object the event is about [default: the sample's].
    #[arg(long)]
    pub object_id: Option<i64>,
    /// The payload, a JSON object, instead of the sample's.
    #[arg(long)]
    pub payload: Option<String>,
    /// Who did it: `<person id>` or `<person id>:<name>` [default: the sample's].
    #[arg(long)]
    pub person: Option<String>,
    /// For `automation_rule`: the webhook it targets.
    #[arg(long)]
    pub webhook_id: Option<i64>,
}

/// Every catalogue event's sample, by name.
pub fn samples() -> &'static Map<String, Value> {
    static PARSED: OnceLock<Map<String, Value>> = OnceLock::new();
    PARSED.get_or_init(|| match serde_json::from_str(SAMPLES) {
        Ok(Value::Object(map)) => map,
        _ => panic!("samples/events.json is a JSON object of samples"),
    })
}

/// The body of `POST /v1/events` for the sample of `args.event`, changed
/// as the flags say.
pub fn sample_event(args: &TriggerArgs) -> anyhow::Result<Value> {
    if EventName::parse(&args.event).is_none() {
        anyhow::bail!(
            "{:?} is not in the event catalogue, such as request.note-added",
            args.event
        );
    }
    let Some(Value::Object(sample)) = samples().get(&args.event) else {
        anyhow::bail!("no sample of {} in samples/events.json", args.event);
    };
    let mut event = sample.clone();
    event.insert("event".into(), Value::String(args.event.clone()));
    if let Some(id) = args.object_id {
        event.insert("object_id".into(), id.into());
    }
    if let Some(text) = &args.payload {
        let payload: Value = serde_json::from_str(text).context("--payload is not JSON")?;
        anyhow::ensure!(payload.is_object(), "--payload must be a JSON object");
        event.insert("payload".into(), payload);
    }
    if let Some(person) = &args.person {
        let (id, name) = match person.split_once(':') {
            Some((id, name)) => (id, Some(name)),
            None => (person.as_str(), None),
        };
        let id: i64 = id
            .trim()
            .parse()
            .with_context(|| format!("--person {person:?}: give <id> or <id>:<name>"))?;
        event.insert("person_id".into(), id.into());
        match name {
            Some(name) => event.insert("person_name".into(), name.trim().into()),
            None => event.remove("person_name"),
        };
    }
    if let Some(id) = args.webhook_id {
        event.insert("webhook_id".into(), id.into());
    }
    Ok(Value::Object(event))
}

/// Publishes the event and prints Herald's answer (its id and how many
/// deliveries it made).
pub async fn run(args: TriggerArgs) -> anyhow::Result<()> {
    let event = sample_event(&args)?;
    let client = Client::new(args.target.clone())?;
    let answer = client
        .call(Method::POST, "/v1/events", Some(&event))
        .await?;
    let body = answer.success(&format!("publishing {}", args.event))?;
    println!("{}", serde_json::to_string_pretty(&event)?);
    println!("{body}");
    Ok(())
}
