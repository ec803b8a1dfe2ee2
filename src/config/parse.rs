//! Each setting read and checked, its default standing in when it is not
//! given; a bad value is an error naming the setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use super::*;
use crate::domain::retry::DEFAULT_SCHEDULE;

/// The longest `connection-idle-timeout` and `request-timeout`: a day is
/// longer than any client waits for an answer, and far larger values
/// overflow the clock.
const MAX_CLIENT_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

fn err(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// A duration such as `10s` or `5m`.
fn duration(name: &str, value: &Option<String>, default: &str) -> Result<Duration, ConfigError> {
    let text = value.as_deref().unwrap_or(default);
    humantime::parse_duration(text.trim()).map_err(|e| {
        err(format!(
            "{name}: {text:?} is not a duration such as 10s or 5m: {e}"
        ))
    })
}

/// A duration longer than 0s and at most a day.
fn client_timeout(name: &str, value: &Option<String>) -> Result<Duration, ConfigError> {
    let timeout = duration(name, value, "30s")?;
    if timeout.is_zero() || timeout > MAX_CLIENT_TIMEOUT {
        return Err(err(format!(
            "{name} must be longer than 0s and at most 1day"
        )));
    }
    Ok(timeout)
}

/// CIDR ranges such as `10.1.0.0/16`; blank entries are skipped.
fn cidr_list(name: &str, given: &Option<Vec<String>>) -> Result<Vec<IpNet>, ConfigError> {
    given
        .iter()
        .flatten()
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.trim().parse::<IpNet>().map_err(|_| {
                err(format!(
                    "{name}: {t:?} is not a CIDR range such as 10.1.0.0/16"
                ))
            })
        })
        .collect()
}

/// A count that must be at least 1.
fn at_least_one<T: PartialEq + From<u8>>(name: &str, value: T) -> Result<T, ConfigError> {
    if value == T::from(0) {
        return Err(err(format!("{name} must be at least 1")));
    }
    Ok(value)
}

pub(super) fn listen(s: &Settings) -> Result<SocketAddr, ConfigError> {
    let text = s.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    text.parse().map_err(|_| {
        err(format!(
            "listen: {text:?} is not an address:port such as 127.0.0.1:8080"
        ))
    })
}

pub(super) fn database(s: &Settings) -> Result<String, ConfigError> {
    let database = s.database.as_deref().unwrap_or(DEFAULT_DATABASE);
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| database.starts_with(p))
    {
        return Err(err(format!(
            "database: {:?} is not a sqlite:// or postgres:// URL",
            redact_url(database)
        )));
    }
    Ok(database.to_string())
}

/// The public URL without a trailing slash, and its host.
pub(super) fn public_url(
    s: &Settings,
    listen: SocketAddr,
) -> Result<(String, String), ConfigError> {
    let text = s
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    let public = Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            err(format!(
                "public-url: {text:?} is not an absolute http(s) URL"
            ))
        })?;
    let domain = public.host_str().unwrap_or_default().to_string();
    Ok((public.as_str().trim_end_matches('/').to_string(), domain))
}

pub(super) fn account_url_template(s: &Settings) -> Result<String, ConfigError> {
    let template = s
        .account_url_template
        .as_deref()
        .unwrap_or(DEFAULT_ACCOUNT_URL_TEMPLATE);
    if !template.contains("{account}") || Url::parse(&template.replace("{account}", "x")).is_err() {
        return Err(err(format!(
            "account-url-template: {template:?} must be a URL containing {{account}}"
        )));
    }
    Ok(template.to_string())
}

pub(super) fn max_body_size(s: &Settings) -> Result<usize, ConfigError> {
    match s.max_body_size.unwrap_or(DEFAULT_MAX_BODY_SIZE) {
        0 => Err(err("max-body-size must be at least 1 byte")),
        size => Ok(size),
    }
}

pub(super) fn connections(s: &Settings) -> Result<ConnectionLimits, ConfigError> {
    Ok(ConnectionLimits {
        max_connections: at_least_one("max-connections", s.max_connections.unwrap_or(1024))?,
        per_client: s
            .max_connections_per_client
            .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_CLIENT),
        trusted_proxies: cidr_list("trusted-proxy", &s.trusted_proxy)?,
        idle_timeout: client_timeout("connection-idle-timeout", &s.connection_idle_timeout)?,
        write_timeout: request_timeout(s)?,
    })
}

pub(super) fn request_timeout(s: &Settings) -> Result<Duration, ConfigError> {
    client_timeout("request-timeout", &s.request_timeout)
}

pub(super) fn targets(s: &Settings) -> Result<TargetPolicy, ConfigError> {
    Ok(TargetPolicy {
        allow_private: s.allow_private_targets.unwrap_or(false),
        allowed: cidr_list("allow-target", &s.allow_target)?,
    })
}

pub(super) fn delivery(s: &Settings, database: &str) -> Result<DeliveryConfig, ConfigError> {
    let timeout = duration("delivery-timeout", &s.delivery_timeout, "10s")?;
    if timeout.is_zero() {
        return Err(err("delivery-timeout must be longer than 0s"));
    }
    let default_concurrency = if database.starts_with("sqlite:") {
        DEFAULT_DELIVERY_CONCURRENCY_SQLITE
    } else {
        DEFAULT_DELIVERY_CONCURRENCY_POSTGRES
    };
    let concurrency = at_least_one(
        "delivery-concurrency",
        s.delivery_concurrency.unwrap_or(default_concurrency),
    )?;
    let per_webhook = at_least_one(
        "delivery-concurrency-per-webhook",
        s.delivery_concurrency_per_webhook.unwrap_or(32),
    )?;
    let schedule = s.retry_schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE);
    Ok(DeliveryConfig {
        timeout,
        concurrency,
        concurrency_per_webhook: per_webhook.min(concurrency),
        retry: RetryPolicy {
            max_attempts: at_least_one("max-attempts", s.max_attempts.unwrap_or(10))?,
            schedule: RetryPolicy::parse_schedule(schedule)
                .map_err(|e| err(format!("retry-schedule: {e}")))?,
        },
        disable_after_failures: s.disable_after_failures.unwrap_or(20),
        require_verification: s.require_verification.unwrap_or(true),
    })
}

pub(super) fn mail(s: &Settings) -> Result<MailConfig, ConfigError> {
    let from = s
        .mail_from
        .clone()
        .unwrap_or_else(|| "Herald <herald@localhost>".to_string());
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(err(format!(
            "mail-from: {from:?} is not a mailbox such as Herald <herald@example.com>"
        )));
    }
    let smtp_url = s.smtp_url.clone().filter(|u| !u.trim().is_empty());
    if let Some(url) = &smtp_url
        && Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "smtp" | "smtps"))
            .is_none()
    {
        return Err(err("smtp-url: not an smtp:// or smtps:// URL"));
    }
    Ok(MailConfig {
        smtp_url,
        from,
        interval: duration("mail-interval", &s.mail_interval, "20m")?,
    })
}

pub(super) fn secrets(s: &Settings) -> Result<SecretsConfig, ConfigError> {
    let secret_key = s.secret_key.clone().filter(|k| !k.trim().is_empty());
    if let Some(key) = &secret_key {
        Sealer::from_base64(key).map_err(|e| err(format!("secret-key: {e}")))?;
    }
    Ok(SecretsConfig {
        secret_key,
        data_dir: PathBuf::from(s.data_dir.as_deref().unwrap_or(".")),
    })
}

pub(super) fn retention(s: &Settings) -> Result<Duration, ConfigError> {
    let retention = duration("retention", &s.retention, "30d")?;
    if retention < Duration::from_secs(60) {
        return Err(err("retention must be at least 1m"));
    }
    Ok(retention)
}

/// The web console: on unless `--console false`, and its sessions' life.
pub(super) fn console(s: &Settings) -> Result<ConsoleConfig, ConfigError> {
    let session_ttl = duration("console-session-ttl", &s.console_session_ttl, "12h")?;
    if session_ttl < Duration::from_secs(60) || session_ttl > Duration::from_secs(30 * 24 * 3600) {
        return Err(err("console-session-ttl must be between 1m and 30d"));
    }
    Ok(ConsoleConfig {
        enabled: s.console.unwrap_or(true),
        session_ttl,
    })
}

pub(super) fn audit_retention(s: &Settings) -> Result<Duration, ConfigError> {
    let retention = duration("audit-retention", &s.audit_retention, "365d")?;
    if retention < Duration::from_secs(24 * 3600) {
        return Err(err("audit-retention must be at least 1d"));
    }
    Ok(retention)
}

pub(super) fn role(s: &Settings) -> Result<Role, ConfigError> {
    match s.role.as_deref().unwrap_or("all") {
        "all" => Ok(Role::All),
        "api" => Ok(Role::Api),
        "worker" => Ok(Role::Worker),
        other => Err(err(format!(
            "role: {other:?} is not one of all, api, worker"
        ))),
    }
}
