//! Typed configuration: defaults, then an optional TOML file, then `HERALD_*`
//! environment variables and flags; validated once at start.

mod parse;
mod settings;
mod telemetry;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::crypto::sealing::{SealError, Sealer, open_sealer};
use crate::domain::retry::RetryPolicy;
use crate::domain::target::TargetPolicy;

pub use settings::{ConfigFile, Settings};
pub use telemetry::{LogFormat, TelemetryConfig};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE: &str = "sqlite://herald.db";
pub const DEFAULT_ACCOUNT_URL_TEMPLATE: &str = "https://{account}.example.com";
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;
pub const DEFAULT_RATE_LIMIT: u32 = 3600;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 64;
pub const DEFAULT_VERIFY_RATE_LIMIT: u32 = 30;
/// Attempts in flight at once unless set. PostgreSQL gains from more: each
/// step of a delivery waits on a round trip, and more in flight hide them.
/// On SQLite more only lengthens the lines behind busy webhooks, and what a
/// claim takes beyond them goes back through its one writer.
pub const DEFAULT_DELIVERY_CONCURRENCY_SQLITE: usize = 256;
pub const DEFAULT_DELIVERY_CONCURRENCY_POSTGRES: usize = 1024;

/// Every setting, checked. Its `Debug` leaves out secrets: the database
/// password, SMTP URL and server key never reach a log.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub connections: ConnectionLimits,
    /// A request body must arrive within this of its head.
    pub request_timeout: Duration,
    /// Verification callbacks per minute per client address; 0 for no limit.
    pub verify_rate_limit: u32,
    pub database: String,
    /// Without a trailing slash.
    pub public_url: String,
    /// The host of the public URL: the instance domain of nodeIDs (§3).
    pub instance_domain: String,
    pub account_url_template: String,
    pub max_body_size: usize,
    pub rate_limit: u32,
    pub targets: TargetPolicy,
    pub delivery: DeliveryConfig,
    pub mail: MailConfig,
    pub secrets: SecretsConfig,
    /// How long finished deliveries are kept.
    pub retention: Duration,
    /// How long the audit trail keeps a change.
    pub audit_retention: Duration,
    pub role: Role,
    /// The metrics listener and the logs.
    pub telemetry: TelemetryConfig,
    pub console: ConsoleConfig,
}

/// The web console at `/console`.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// How long a session lasts from signing in.
    pub session_ttl: Duration,
}

/// The bounds on client connections (see `api::listener`).
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    /// Connections one client address may hold; 0 for no cap.
    pub per_client: usize,
    /// Proxies in front of Herald: no per-client cap, and their
    /// `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// A connection that sends no complete request head for this long is
    /// closed, so idle ones cannot hold every place of `max_connections`.
    pub idle_timeout: Duration,
    /// A connection whose client takes none of an answer for this long is
    /// closed (`--request-timeout`).
    pub write_timeout: Duration,
}

/// What a Herald process does; several can share one database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    All,
    Api,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }

    pub fn serves_api(self) -> bool {
        self != Role::Worker
    }

    pub fn delivers(self) -> bool {
        self != Role::Api
    }
}

/// Where the server key comes from.
#[derive(Clone)]
pub struct SecretsConfig {
    /// Base64 of 32 bytes; never logged.
    pub secret_key: Option<String>,
    pub data_dir: PathBuf,
}

impl SecretsConfig {
    /// The server key these settings name: given, or kept in the data
    /// directory.
    pub fn open_sealer(&self) -> Result<Sealer, SealError> {
        open_sealer(self.secret_key.as_deref(), &self.data_dir)
    }
}

impl std::fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub timeout: Duration,
    pub concurrency: usize,
    /// At most this many of `concurrency` for one webhook.
    pub concurrency_per_webhook: usize,
    pub retry: RetryPolicy,
    /// 0: never disable.
    pub disable_after_failures: u32,
    pub require_verification: bool,
}

#[derive(Clone)]
pub struct MailConfig {
    /// May hold credentials: never log it.
    pub smtp_url: Option<String>,
    pub from: String,
    pub interval: Duration,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("interval", &self.interval)
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &redact_url(&self.database))
            .field("public_url", &self.public_url)
            .field("role", &self.role)
            .field("delivery", &self.delivery)
            .field("mail", &self.mail)
            .field("secrets", &self.secrets)
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}

/// A setting that cannot be used, named in its message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Flags and environment (`given`) over the file named by `file` over defaults.
    pub fn load(file: Option<&Path>, given: Settings) -> Result<Config, ConfigError> {
        let from_file = match file {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Config::from_settings(given.over(from_file)?)
    }

    /// Checks every setting, the defaults standing in for those not given.
    pub fn from_settings(s: Settings) -> Result<Config, ConfigError> {
        let listen = parse::listen(&s)?;
        let database = parse::database(&s)?;
        let (public_url, instance_domain) = parse::public_url(&s, listen)?;
        Ok(Config {
            listen,
            connections: parse::connections(&s)?,
            request_timeout: parse::request_timeout(&s)?,
            verify_rate_limit: s.verify_rate_limit.unwrap_or(DEFAULT_VERIFY_RATE_LIMIT),
            public_url,
            instance_domain,
            account_url_template: parse::account_url_template(&s)?,
            max_body_size: parse::max_body_size(&s)?,
            rate_limit: s.rate_limit.unwrap_or(DEFAULT_RATE_LIMIT),
            targets: parse::targets(&s)?,
            delivery: parse::delivery(&s, &database)?,
            mail: parse::mail(&s)?,
            secrets: parse::secrets(&s)?,
            retention: parse::retention(&s)?,
            audit_retention: parse::audit_retention(&s)?,
            role: parse::role(&s)?,
            telemetry: telemetry::telemetry(&s, listen)?,
            console: parse::console(&s)?,
            database,
        })
    }

    pub fn account_url(&self, account: &str) -> String {
        self.account_url_template.replace("{account}", account)
    }
}

/// A database URL fit for logs: any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
