//! Typed configuration: defaults, then an optional TOML file, then `HERALD_*`
//! environment variables and flags; validated once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

use crate::delivery::retry::{DEFAULT_SCHEDULE, RetryPolicy};
use crate::domain::target::TargetPolicy;

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

/// Every setting, as given by a flag/environment variable (clap) or a file
/// key (serde). `None` means "not given here".
#[derive(Clone, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address and port the HTTP API listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "HERALD_LISTEN")]
    pub listen: Option<String>,

    /// Client connections held open at once; more wait to be accepted
    /// [default: 1024].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// How long a client connection may go without sending a complete
    /// request head (idle between requests, or a slow client) before it is
    /// closed [default: 30s].
    #[arg(long, env = "HERALD_CONNECTION_IDLE_TIMEOUT")]
    pub connection_idle_timeout: Option<String>,

    /// How long a request's body may take to arrive, from the end of its
    /// head; a slower one gets 408 and its connection is closed [default: 30s].
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,

    /// Connections one client address (an IPv6 client: its /64) may hold
    /// open at once; more are closed as they come; 0 for no cap [default: 64].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<usize>,

    /// A CIDR range of client addresses without the per-client cap, such as
    /// a load balancer's (repeatable; comma-separated in the environment
    /// variable).
    #[arg(
        long = "connection-limit-exempt",
        env = "HERALD_CONNECTION_LIMIT_EXEMPT",
        value_delimiter = ','
    )]
    pub connection_limit_exempt: Option<Vec<String>>,

    /// Verification callbacks (GET/POST /v1/webhooks/:id/verify) per minute
    /// per client address; 0 for no limit [default: 30].
    #[arg(long, env = "HERALD_VERIFY_RATE_LIMIT")]
    pub verify_rate_limit: Option<u32>,

    /// Database URL: sqlite://herald.db, sqlite:///abs/path.db or postgres://user@host/db
    /// [default: sqlite://herald.db].
    #[arg(long, env = "HERALD_DATABASE")]
    pub database: Option<String>,

    /// The URL clients and receivers reach Herald at; used in Link headers,
    /// verification callbacks and nodeIDs [default: http://<listen>].
    #[arg(long, env = "HERALD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Each account's URL; `{account}` is replaced by the account id
    /// [default: https://{account}.example.com].
    #[arg(long, env = "HERALD_ACCOUNT_URL_TEMPLATE")]
    pub account_url_template: Option<String>,

    /// Largest request body accepted, in bytes [default: 1048576].
    #[arg(long, env = "HERALD_MAX_BODY_SIZE")]
    pub max_body_size: Option<usize>,

    /// Requests per hour per API token; 0 turns rate limiting off [default: 3600].
    #[arg(long, env = "HERALD_RATE_LIMIT")]
    pub rate_limit: Option<u32>,

    /// Allow webhook URIs and deliveries to private, loopback and other
    /// non-public addresses [default: false].
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_TARGETS", num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_targets: Option<bool>,

    /// A CIDR range of otherwise refused addresses to allow (repeatable;
    /// comma-separated in the environment variable).
    #[arg(
        long = "allow-target",
        env = "HERALD_ALLOW_TARGET",
        value_delimiter = ','
    )]
    pub allow_target: Option<Vec<String>>,

    /// How long one delivery attempt may take [default: 10s].
    #[arg(long, env = "HERALD_DELIVERY_TIMEOUT")]
    pub delivery_timeout: Option<String>,

    /// Attempts in flight at once, across all receivers [default: 256 on
    /// SQLite, 1024 on PostgreSQL].
    #[arg(long, env = "HERALD_DELIVERY_CONCURRENCY")]
    pub delivery_concurrency: Option<usize>,

    /// Attempts in flight at once to one webhook, so a slow receiver cannot
    /// take every slot; an eighth of it while the webhook's last 3 attempts
    /// failed [default: 32].
    #[arg(long, env = "HERALD_DELIVERY_CONCURRENCY_PER_WEBHOOK")]
    pub delivery_concurrency_per_webhook: Option<usize>,

    /// Attempts per delivery in all, the first included [default: 10].
    #[arg(long, env = "HERALD_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,

    /// Waits after the 1st, 2nd... failed attempt, each ±20 % jitter
    /// [default: 30s,2m,5m,15m,30m,1h,2h,4h,8h].
    #[arg(long, env = "HERALD_RETRY_SCHEDULE")]
    pub retry_schedule: Option<String>,

    /// Consecutive failed attempts that disable a webhook; 0 never disables
    /// [default: 20].
    #[arg(long, env = "HERALD_DISABLE_AFTER_FAILURES")]
    pub disable_after_failures: Option<u32>,

    /// New webhooks and changed URIs must answer the webhook.verify
    /// handshake before they get events [default: true].
    #[arg(long, env = "HERALD_REQUIRE_VERIFICATION", num_args = 0..=1, default_missing_value = "true")]
    pub require_verification: Option<bool>,

    /// SMTP server for failure mails: smtp://host:port or
    /// smtps://user:pass@host; without it mails are logged, not sent.
    #[arg(long, env = "HERALD_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// Sender of failure mails [default: Herald <herald@localhost>].
    #[arg(long, env = "HERALD_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// At most one failure mail per webhook per this interval [default: 20m].
    #[arg(long, env = "HERALD_MAIL_INTERVAL")]
    pub mail_interval: Option<String>,

    /// The server key that encrypts policy keys at rest: 32 bytes in base64.
    /// Without it Herald keeps one in <data-dir>/secret.key, made on first start.
    #[arg(long, env = "HERALD_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Where Herald keeps its files (the generated secret key) [default: .].
    #[arg(long, env = "HERALD_DATA_DIR")]
    pub data_dir: Option<String>,

    /// How long finished deliveries and their attempts are kept [default: 30d].
    #[arg(long, env = "HERALD_RETENTION")]
    pub retention: Option<String>,

    /// What this process does: `all` (API and delivery workers), `api`
    /// (the HTTP API only) or `worker` (delivery workers, and /healthz)
    /// [default: all].
    #[arg(long, env = "HERALD_ROLE")]
    pub role: Option<String>,
}

impl Settings {
    /// `self` wins where it has a value.
    fn over(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            max_connections: self.max_connections.or(lower.max_connections),
            connection_idle_timeout: self
                .connection_idle_timeout
                .or(lower.connection_idle_timeout),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            max_connections_per_client: self
                .max_connections_per_client
                .or(lower.max_connections_per_client),
            connection_limit_exempt: self
                .connection_limit_exempt
                .or(lower.connection_limit_exempt),
            verify_rate_limit: self.verify_rate_limit.or(lower.verify_rate_limit),
            database: self.database.or(lower.database),
            public_url: self.public_url.or(lower.public_url),
            account_url_template: self.account_url_template.or(lower.account_url_template),
            max_body_size: self.max_body_size.or(lower.max_body_size),
            rate_limit: self.rate_limit.or(lower.rate_limit),
            allow_private_targets: self.allow_private_targets.or(lower.allow_private_targets),
            allow_target: self.allow_target.or(lower.allow_target),
            delivery_timeout: self.delivery_timeout.or(lower.delivery_timeout),
            delivery_concurrency: self.delivery_concurrency.or(lower.delivery_concurrency),
            delivery_concurrency_per_webhook: self
                .delivery_concurrency_per_webhook
                .or(lower.delivery_concurrency_per_webhook),
            max_attempts: self.max_attempts.or(lower.max_attempts),
            retry_schedule: self.retry_schedule.or(lower.retry_schedule),
            disable_after_failures: self.disable_after_failures.or(lower.disable_after_failures),
            require_verification: self.require_verification.or(lower.require_verification),
            smtp_url: self.smtp_url.or(lower.smtp_url),
            mail_from: self.mail_from.or(lower.mail_from),
            mail_interval: self.mail_interval.or(lower.mail_interval),
            secret_key: self.secret_key.or(lower.secret_key),
            data_dir: self.data_dir.or(lower.data_dir),
            retention: self.retention.or(lower.retention),
            role: self.role.or(lower.role),
        }
    }
}

/// Its `Debug` leaves out secrets: the database password, SMTP URL and
/// server key never reach a log.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub max_connections: usize,
    /// A connection that sends no complete request head for this long is
    /// closed, so idle ones cannot hold every place of `max_connections`.
    pub connection_idle_timeout: Duration,
    /// A request body must arrive within this of its head.
    pub request_timeout: Duration,
    /// Connections one client address may hold; 0 for no cap.
    pub max_connections_per_client: usize,
    /// Client addresses without that cap.
    pub connection_limit_exempt: Vec<IpNet>,
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
    pub role: Role,
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
            .field("database", &crate::redact_url(&self.database))
            .field("public_url", &self.public_url)
            .field("role", &self.role)
            .field("delivery", &self.delivery)
            .field("mail", &self.mail)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// The longest `connection-idle-timeout` and `request-timeout`: a day is longer than any client
/// waits for an answer, and far larger values overflow the clock.
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Flags and environment (`given`) over the file named by `file` over defaults.
    pub fn load(file: Option<&Path>, given: Settings) -> Result<Config, ConfigError> {
        let from_file = match file {
            Some(path) => read_file(path)?,
            None => Settings::default(),
        };
        Config::from_settings(given.over(from_file))
    }

    pub fn from_settings(s: Settings) -> Result<Config, ConfigError> {
        let listen_text = s.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            err(format!(
                "listen: {listen_text:?} is not an address:port such as 127.0.0.1:8080"
            ))
        })?;

        let database = s.database.unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database.starts_with(p))
        {
            return Err(err(format!(
                "database: {:?} is not a sqlite:// or postgres:// URL",
                crate::redact_url(&database)
            )));
        }

        let public_text = s.public_url.unwrap_or_else(|| format!("http://{listen}"));
        let public = Url::parse(&public_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                err(format!(
                    "public-url: {public_text:?} is not an absolute http(s) URL"
                ))
            })?;
        let instance_domain = public.host_str().unwrap_or_default().to_string();
        let public_url = public.as_str().trim_end_matches('/').to_string();

        let template = s
            .account_url_template
            .unwrap_or_else(|| DEFAULT_ACCOUNT_URL_TEMPLATE.to_string());
        if !template.contains("{account}")
            || Url::parse(&template.replace("{account}", "x")).is_err()
        {
            return Err(err(format!(
                "account-url-template: {template:?} must be a URL containing {{account}}"
            )));
        }

        let max_body_size = s.max_body_size.unwrap_or(DEFAULT_MAX_BODY_SIZE);
        if max_body_size == 0 {
            return Err(err("max-body-size must be at least 1 byte".into()));
        }

        let allowed = cidr_list("allow-target", s.allow_target)?;
        let connection_limit_exempt =
            cidr_list("connection-limit-exempt", s.connection_limit_exempt)?;

        let duration = |name: &str, value: Option<String>, default: &str| {
            let text = value.unwrap_or_else(|| default.to_string());
            humantime::parse_duration(text.trim()).map_err(|e| {
                err(format!(
                    "{name}: {text:?} is not a duration such as 10s or 5m: {e}"
                ))
            })
        };
        let timeout = duration("delivery-timeout", s.delivery_timeout, "10s")?;
        if timeout.is_zero() {
            return Err(err("delivery-timeout must be longer than 0s".into()));
        }
        let concurrency = s
            .delivery_concurrency
            .unwrap_or(if database.starts_with("sqlite:") {
                DEFAULT_DELIVERY_CONCURRENCY_SQLITE
            } else {
                DEFAULT_DELIVERY_CONCURRENCY_POSTGRES
            });
        if concurrency == 0 {
            return Err(err("delivery-concurrency must be at least 1".into()));
        }
        let concurrency_per_webhook = s.delivery_concurrency_per_webhook.unwrap_or(32);
        if concurrency_per_webhook == 0 {
            return Err(err(
                "delivery-concurrency-per-webhook must be at least 1".into()
            ));
        }
        let max_attempts = s.max_attempts.unwrap_or(10);
        if max_attempts == 0 {
            return Err(err("max-attempts must be at least 1".into()));
        }
        let schedule_text = s
            .retry_schedule
            .unwrap_or_else(|| DEFAULT_SCHEDULE.to_string());
        let schedule = RetryPolicy::parse_schedule(&schedule_text)
            .map_err(|e| err(format!("retry-schedule: {e}")))?;
        let from = s
            .mail_from
            .unwrap_or_else(|| "Herald <herald@localhost>".to_string());
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(err(format!(
                "mail-from: {from:?} is not a mailbox such as Herald <herald@example.com>"
            )));
        }
        let smtp_url = s.smtp_url.filter(|u| !u.trim().is_empty());
        if let Some(url) = &smtp_url {
            let parsed = Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "smtp" | "smtps"));
            if parsed.is_none() {
                return Err(err("smtp-url: not an smtp:// or smtps:// URL".into()));
            }
        }
        let interval = duration("mail-interval", s.mail_interval, "20m")?;

        let secret_key = s.secret_key.filter(|k| !k.trim().is_empty());
        if let Some(key) = &secret_key {
            crate::crypto::sealing::Sealer::from_base64(key)
                .map_err(|e| err(format!("secret-key: {e}")))?;
        }
        let data_dir = PathBuf::from(s.data_dir.unwrap_or_else(|| ".".to_string()));

        let retention = duration("retention", s.retention, "30d")?;
        if retention < Duration::from_secs(60) {
            return Err(err("retention must be at least 1m".into()));
        }

        let role = match s.role.as_deref().unwrap_or("all") {
            "all" => Role::All,
            "api" => Role::Api,
            "worker" => Role::Worker,
            other => {
                return Err(err(format!(
                    "role: {other:?} is not one of all, api, worker"
                )));
            }
        };

        let max_connections = s.max_connections.unwrap_or(1024);
        if max_connections == 0 {
            return Err(err("max-connections must be at least 1".into()));
        }
        let connection_idle_timeout =
            duration("connection-idle-timeout", s.connection_idle_timeout, "30s")?;
        if connection_idle_timeout.is_zero() || connection_idle_timeout > MAX_IDLE_TIMEOUT {
            return Err(err(
                "connection-idle-timeout must be longer than 0s and at most 1day".into(),
            ));
        }
        let request_timeout = duration("request-timeout", s.request_timeout, "30s")?;
        if request_timeout.is_zero() || request_timeout > MAX_IDLE_TIMEOUT {
            return Err(err(
                "request-timeout must be longer than 0s and at most 1day".into(),
            ));
        }
        Ok(Config {
            role,
            max_connections,
            connection_idle_timeout,
            request_timeout,
            max_connections_per_client: s
                .max_connections_per_client
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_CLIENT),
            connection_limit_exempt,
            verify_rate_limit: s.verify_rate_limit.unwrap_or(DEFAULT_VERIFY_RATE_LIMIT),
            retention,
            secrets: SecretsConfig {
                secret_key,
                data_dir,
            },
            delivery: DeliveryConfig {
                timeout,
                concurrency,
                concurrency_per_webhook: concurrency_per_webhook.min(concurrency),
                retry: RetryPolicy {
                    max_attempts,
                    schedule,
                },
                disable_after_failures: s.disable_after_failures.unwrap_or(20),
                require_verification: s.require_verification.unwrap_or(true),
            },
            mail: MailConfig {
                smtp_url,
                from,
                interval,
            },
            listen,
            database,
            public_url,
            instance_domain,
            account_url_template: template,
            max_body_size,
            rate_limit: s.rate_limit.unwrap_or(DEFAULT_RATE_LIMIT),
            targets: TargetPolicy {
                allow_private: s.allow_private_targets.unwrap_or(false),
                allowed,
            },
        })
    }

    pub fn account_url(&self, account: &str) -> String {
        self.account_url_template.replace("{account}", account)
    }
}

/// CIDR ranges such as `10.1.0.0/16`; blank entries are skipped.
fn cidr_list(name: &str, given: Option<Vec<String>>) -> Result<Vec<IpNet>, ConfigError> {
    given
        .unwrap_or_default()
        .iter()
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

fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(format!("config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| err(format!("config file {}: {e}", path.display())))
}

fn err(message: String) -> ConfigError {
    ConfigError(message)
}

/// The config file named on the command line or in `HERALD_CONFIG`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigFile {
    /// A TOML file with settings (keys as the flags, with `_` for `-`).
    #[arg(long, env = "HERALD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = Config::from_settings(Settings::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database, DEFAULT_DATABASE);
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.instance_domain, "127.0.0.1");
        assert_eq!(config.account_url("wdc"), "https://wdc.example.com");
        assert_eq!(config.rate_limit, 3600);
        assert_eq!(config.delivery.timeout, Duration::from_secs(10));
        assert_eq!(config.delivery.retry.max_attempts, 10);
        assert_eq!(config.delivery.retry.schedule.len(), 9);
        assert_eq!(config.delivery.disable_after_failures, 20);
        assert!(config.delivery.require_verification);
        assert_eq!(config.mail.interval, Duration::from_secs(1200));
        assert!(config.mail.smtp_url.is_none());
        assert_eq!(config.delivery.concurrency, 256);
    }

    #[test]
    fn concurrency_defaults_to_the_databases_and_yields_to_a_setting() {
        let postgres = |concurrency| Settings {
            database: Some("postgres://postgres@127.0.0.1/test".into()),
            delivery_concurrency: concurrency,
            ..Default::default()
        };
        let config = Config::from_settings(postgres(None)).unwrap();
        assert_eq!(config.delivery.concurrency, 1024);
        let config = Config::from_settings(postgres(Some(64))).unwrap();
        assert_eq!(config.delivery.concurrency, 64);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: Settings =
            toml::from_str("listen = \"0.0.0.0:9000\"\nrate_limit = 10\n").unwrap();
        let flags = Settings {
            rate_limit: Some(20),
            ..Default::default()
        };
        let config = Config::from_settings(flags.over(file)).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.rate_limit, 20);
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |s: Settings| Config::from_settings(s).unwrap_err().to_string();
        assert!(
            bad(Settings {
                listen: Some("nope".into()),
                ..Default::default()
            })
            .starts_with("listen:")
        );
        assert!(
            bad(Settings {
                database: Some("mysql://x".into()),
                ..Default::default()
            })
            .starts_with("database:")
        );
        assert!(
            bad(Settings {
                public_url: Some("ftp://x".into()),
                ..Default::default()
            })
            .starts_with("public-url:")
        );
        assert!(
            bad(Settings {
                account_url_template: Some("https://x.com".into()),
                ..Default::default()
            })
            .starts_with("account-url-template:")
        );
        assert!(
            bad(Settings {
                allow_target: Some(vec!["10.0.0.0/99".into()]),
                ..Default::default()
            })
            .starts_with("allow-target:")
        );
        assert!(toml::from_str::<Settings>("unknown_key = 1").is_err());
        assert!(
            bad(Settings {
                delivery_timeout: Some("soon".into()),
                ..Default::default()
            })
            .starts_with("delivery-timeout:")
        );
        for timeout in ["0s", "2days", "soon"] {
            assert!(
                bad(Settings {
                    connection_idle_timeout: Some(timeout.into()),
                    ..Default::default()
                })
                .starts_with("connection-idle-timeout"),
                "{timeout}"
            );
        }
        assert!(
            bad(Settings {
                retry_schedule: Some("1s,x".into()),
                ..Default::default()
            })
            .starts_with("retry-schedule:")
        );
        assert!(
            bad(Settings {
                smtp_url: Some("http://mail".into()),
                ..Default::default()
            })
            .starts_with("smtp-url:")
        );
        assert!(
            bad(Settings {
                mail_from: Some("nobody".into()),
                ..Default::default()
            })
            .starts_with("mail-from:")
        );
        assert!(
            bad(Settings {
                max_attempts: Some(0),
                ..Default::default()
            })
            .starts_with("max-attempts")
        );
    }
}
