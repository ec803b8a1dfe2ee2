//! What Herald tells its operators: the metrics listener and the logs.

use std::net::SocketAddr;

use tracing::level_filters::LevelFilter;

use super::{ConfigError, Settings};

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// The metrics listener and the logs, checked.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served without a
    /// token; `None`: no metrics at all.
    pub metrics_listen: Option<SocketAddr>,
    /// Label delivery metrics with the webhook's id too (one series per
    /// webhook and outcome).
    pub metrics_per_webhook: bool,
    pub log_format: LogFormat,
    /// The level of every target, unless `HERALD_LOG` gives a filter.
    pub log_level: LevelFilter,
}

/// The telemetry settings; `listen` is the API's address, which the
/// metrics listener may not share.
pub(super) fn telemetry(s: &Settings, listen: SocketAddr) -> Result<TelemetryConfig, ConfigError> {
    let metrics_listen = match s.metrics_listen.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let address: SocketAddr = text.parse().map_err(|_| {
                ConfigError(format!(
                    "metrics-listen: {text:?} is not an address:port such as 127.0.0.1:9090"
                ))
            })?;
            if overlaps(address, listen) {
                return Err(ConfigError(format!(
                    "metrics-listen: {address} is the API's own address (--listen {listen}): \
                     metrics need no token, so they are never served on the API's port"
                )));
            }
            Some(address)
        }
    };
    let log_format = match s.log_format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(ConfigError(format!(
                "log-format: {other:?} is not one of text, json"
            )));
        }
    };
    let level = s.log_level.as_deref().unwrap_or("info");
    let log_level = match level.to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" => LevelFilter::WARN,
        "error" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => {
            return Err(ConfigError(format!(
                "log-level: {level:?} is not one of trace, debug, info, warn, error, off"
            )));
        }
    };
    Ok(TelemetryConfig {
        metrics_listen,
        metrics_per_webhook: s.metrics_per_webhook.unwrap_or(false),
        log_format,
        log_level,
    })
}

/// Whether two listen addresses would take the same port: the same port
/// (not 0, which picks a free one) on the same address, or on any address.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}
