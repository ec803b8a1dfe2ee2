//! Settings as given: flags and `HERALD_*` environment variables (clap) or
//! keys of the TOML file (serde), each `None` where not given.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Every setting, as given by a flag/environment variable (clap) or a file
/// key (serde). `None` means "not given here".
#[derive(Clone, Default, clap::Args, Deserialize, Serialize)]
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
    /// head (a slower one gets 408 and its connection is closed), and how
    /// long a client may take none of an answer [default: 30s].
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,

    /// Connections one client address (an IPv6 client: its /64) may hold
    /// open at once; more are closed as they come; 0 for no cap [default: 64].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<usize>,

    /// A CIDR range of proxies in front of Herald (a load balancer, a TLS
    /// proxy): no per-client cap on their connections, and the last address
    /// of their X-Forwarded-For is the client (repeatable; comma-separated
    /// in the environment variable).
    #[arg(
        long = "trusted-proxy",
        env = "HERALD_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxy: Option<Vec<String>>,

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

    /// How long the audit trail keeps a change [default: 365d].
    #[arg(long, env = "HERALD_AUDIT_RETENTION")]
    pub audit_retention: Option<String>,

    /// What this process does: `all` (API and delivery workers), `api`
    /// (the HTTP API only) or `worker` (delivery workers, and /healthz)
    /// [default: all].
    #[arg(long, env = "HERALD_ROLE")]
    pub role: Option<String>,

    /// Address and port of a second listener serving /metrics (Prometheus),
    /// /healthz and /readyz without a token; off unless given. Never the
    /// API's address: keep it where only your monitoring reaches.
    #[arg(long, env = "HERALD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Also label delivery metrics with each webhook's id (a series per
    /// webhook and outcome) [default: false].
    #[arg(long, env = "HERALD_METRICS_PER_WEBHOOK", num_args = 0..=1, default_missing_value = "true")]
    pub metrics_per_webhook: Option<bool>,

    /// How log lines are written to stderr: `text` or `json` (one object
    /// per line) [default: text].
    #[arg(long, env = "HERALD_LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Serve the web console at /console [default: true].
    #[arg(long, env = "HERALD_CONSOLE", num_args = 0..=1, default_missing_value = "true")]
    pub console: Option<bool>,

    /// How long a console session lasts from signing in, at most 30d
    /// [default: 12h].
    #[arg(long, env = "HERALD_CONSOLE_SESSION_TTL")]
    pub console_session_ttl: Option<String>,

    /// The least severe log lines written: trace, debug, info, warn, error
    /// or off; `HERALD_LOG`, a tracing filter, wins when set [default: info].
    #[arg(long, env = "HERALD_LOG_LEVEL")]
    pub log_level: Option<String>,
}

impl Settings {
    /// `self` wins where it has a value: each setting of the two, as a
    /// JSON object, taken from `lower` where `self` has none.
    pub fn over(self, lower: Settings) -> Result<Settings, ConfigError> {
        let merging = |e: serde_json::Error| ConfigError(format!("merging settings: {e}"));
        let mut mine = serde_json::to_value(self).map_err(merging)?;
        let theirs = serde_json::to_value(lower).map_err(merging)?;
        if let (Some(mine), serde_json::Value::Object(theirs)) = (mine.as_object_mut(), theirs) {
            for (key, value) in theirs {
                if mine.get(&key).is_none_or(serde_json::Value::is_null) {
                    mine.insert(key, value);
                }
            }
        }
        serde_json::from_value(mine).map_err(merging)
    }

    /// The settings of a TOML file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
    }
}

/// The config file named on the command line or in `HERALD_CONFIG`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigFile {
    /// A TOML file with settings (keys as the flags, with `_` for `-`).
    #[arg(long, env = "HERALD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}
