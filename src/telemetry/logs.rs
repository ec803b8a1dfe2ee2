//! The log on stderr: text, or JSON lines (`--log-format json`: one object
//! per line with `timestamp`, `level`, `target`, `message`, `fields`,
//! `spans` and, within a request, its `request_id`), at `--log-level`
//! unless `HERALD_LOG` gives a finer filter.

use std::fmt;

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// The environment variable of a `tracing` filter that, when set, wins over
/// `--log-level` (`warn,herald::delivery=debug`).
pub const FILTER_VARIABLE: &str = "HERALD_LOG";

/// Installs the process's logger; refuses a `HERALD_LOG` that is not a
/// filter, as `--log-level` refuses a level it does not know. Lines that
/// cannot be written (stderr a pipe whose reader is gone) are dropped:
/// reporting them would panic the task that logged.
pub fn init(format: LogFormat, level: LevelFilter) -> anyhow::Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level)?)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .init(),
    }
    Ok(())
}

/// `HERALD_LOG` when it is set, else every target at `level`.
fn filter(level: LevelFilter) -> anyhow::Result<EnvFilter> {
    match std::env::var(FILTER_VARIABLE) {
        Ok(text) if !text.trim().is_empty() => EnvFilter::try_new(&text)
            .map_err(|e| anyhow::anyhow!("{FILTER_VARIABLE}: {text:?} is not a log filter: {e}")),
        _ => Ok(EnvFilter::new(level.to_string())),
    }
}

/// One JSON object per event. Span fields come from the fields formatter
/// ([`JsonFields`]), which keeps them as JSON text.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Utc::now()
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().to_string().into());
        line.insert("target".into(), meta.target().into());
        line.insert("message".into(), fields.message.unwrap_or_default().into());
        line.insert("fields".into(), Value::Object(fields.fields));
        let mut spans = Vec::new();
        for span in ctx
            .event_scope()
            .into_iter()
            .flat_map(|scope| scope.from_root())
        {
            let mut object = Map::new();
            object.insert("name".into(), span.name().into());
            if let Some(formatted) = span.extensions().get::<FormattedFields<N>>()
                && let Ok(Value::Object(span_fields)) = serde_json::from_str(formatted)
            {
                if let Some(id) = span_fields.get("request_id") {
                    line.insert("request_id".into(), id.clone());
                }
                object.extend(span_fields);
            }
            spans.push(Value::Object(object));
        }
        if !spans.is_empty() {
            line.insert("spans".into(), Value::Array(spans));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields as JSON values, its message apart.
#[derive(Default)]
struct FieldMap {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl FieldMap {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().into(), value);
        }
    }
}

impl Visit for FieldMap {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}
