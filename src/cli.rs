//! The command line: what `herald` takes (clap), and where each command
//! is carried out: `serve` and `migrate` in `cli/serve.rs`, `verify` in
//! `cli/verify.rs`, the `token` commands in `cli/token.rs`, `listen` and
//! `trigger` (against a running Herald) in `cli/listen/` and
//! `cli/trigger.rs`; `openapi` prints the API's document.

mod client;
mod listen;
mod serve;
mod token;
pub mod trigger;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};

use tracing::level_filters::LevelFilter;

use crate::config::{Config, ConfigFile, LogFormat, Settings};
use crate::domain::Role;
use crate::telemetry::logs;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "A self-hosted webhook service speaking the R-Service Webhooks API"
)]
pub struct Cli {
    #[command(flatten)]
    pub config_file: ConfigFile,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP API (applies pending migrations first).
    Serve {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// Database URL [default: sqlite://herald.db].
        #[arg(long, env = "HERALD_DATABASE")]
        database: Option<String>,
    },
    /// Check a signed message as a receiver would: reads the received body
    /// (`{"jwt": "..."}`, or the token alone) on stdin, prints its `data`
    /// claim; exits 1 with the reason when it is not valid.
    Verify {
        /// The policy's public key (the `public_key_pem` shown when it was made).
        #[arg(
            long,
            required_unless_present = "secret_file",
            conflicts_with = "secret_file"
        )]
        public_key: Option<PathBuf>,
        /// For hs* policies: a file holding the policy's `jwt_secret`.
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// The `aud` claim the message must carry.
        #[arg(long)]
        audience: Option<String>,
        /// The `iss` claim (the account URL) the message must carry.
        #[arg(long)]
        issuer: Option<String>,
        /// Seconds of clock difference tolerated for `exp` and `nbf`.
        #[arg(long, default_value_t = 60)]
        leeway: i64,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (as served at
    /// `GET /v1/openapi.json`).
    Openapi,
    /// Receive real messages on this machine: makes temporary webhooks
    /// (one per event) pointing at a local port, answers their verification,
    /// prints each message with its headers and whether it verifies,
    /// optionally forwards it to your app, and deletes the webhooks on
    /// Ctrl-C. Needs a Herald allowed to deliver to 127.0.0.1.
    Listen(Box<listen::ListenArgs>),
    /// Publish a realistic sample of a catalogue event (samples/events.json).
    Trigger(Box<trigger::TriggerArgs>),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token (and its account and person where missing); prints the
    /// token alone on stdout. It is stored only as a hash: keep it now.
    Create {
        /// Account id, a short slug such as `wdc`.
        #[arg(long)]
        account: String,
        /// The token's role: administrator, publisher or member. The token
        /// acts with at most this role; its person gets it too.
        #[arg(long)]
        role: Role,
        /// The person's name (finds an existing person of that name).
        #[arg(long)]
        name: Option<String>,
        /// The person's e-mail (finds an existing person with that address).
        #[arg(long)]
        email: Option<String>,
        /// How long the token works, such as 90d or 12h [default: for ever].
        #[arg(long, value_parser = lifetime)]
        expires_in: Option<Duration>,
        /// What the token is for, such as "deploy script" (at most 255 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List the account's tokens that are not revoked, one a line, the
    /// columns separated by tabs: id, person, role, description, created,
    /// expires, last used (to the minute). Never the token itself.
    List {
        /// Account id.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Revoke a token. Once this returns, every Herald process on the
    /// database refuses it.
    Revoke {
        /// The token's id (see `token list`).
        id: i64,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Replace a token with a new one (same person, role and description);
    /// prints the new token alone on stdout. The old one is revoked, at once
    /// or after `--overlap`.
    Rotate {
        /// The token's id (see `token list`).
        id: i64,
        /// How long the old token keeps working, such as 1h, so that what
        /// uses it can move to the new one [default: 0s, revoked at once].
        #[arg(long, value_parser = overlap)]
        overlap: Option<Duration>,
        /// How long the new token works [default: as long as the old one
        /// was made to, or for ever].
        #[arg(long, value_parser = lifetime)]
        expires_in: Option<Duration>,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

/// The database a command works on.
#[derive(Clone, Debug, clap::Args)]
pub struct DatabaseArg {
    /// Database URL [default: sqlite://herald.db].
    #[arg(long, env = "HERALD_DATABASE")]
    pub database: Option<String>,
}

impl DatabaseArg {
    /// The configuration with this database (the config file's, when it
    /// names one and this does not).
    fn config(self, file: Option<&Path>) -> anyhow::Result<Config> {
        let settings = Settings {
            database: self.database,
            ..Default::default()
        };
        Ok(Config::load(file, settings)?)
    }
}

/// The longest lifetime or overlap a token may be given: far beyond any
/// use, and within what the clock can count.
const MAX_TOKEN_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A token's lifetime: longer than 0s, at most 100 years.
fn lifetime(text: &str) -> Result<Duration, String> {
    match overlap(text)? {
        d if d.is_zero() => Err("a token must live longer than 0s".into()),
        d => Ok(d),
    }
}

/// A duration such as 90d or 1h, at most 100 years.
fn overlap(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration such as 90d or 1h: {e}"))?;
    if duration > MAX_TOKEN_DURATION {
        return Err("at most 100 years".into());
    }
    Ok(duration)
}

/// Carries out a parsed command line. `serve` logs as its settings say;
/// the other commands log text at `info` (or as `HERALD_LOG` says).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config_file.config.as_deref();
    if !matches!(cli.command, Command::Serve { .. }) {
        logs::init(LogFormat::Text, LevelFilter::INFO)?;
    }
    match cli.command {
        Command::Serve { settings } => serve::serve(file, *settings).await,
        Command::Openapi => {
            println!("{}", crate::api::openapi_document().to_pretty_json()?);
            Ok(())
        }
        Command::Migrate { database } => serve::migrate(file, DatabaseArg { database }).await,
        Command::Verify {
            public_key,
            secret_file,
            audience,
            issuer,
            leeway,
        } => {
            let key = verify::Key::of(public_key, secret_file)?;
            verify::verify(key, audience, issuer, leeway)
        }
        Command::Token { command } => token::run(file, command).await,
        Command::Listen(args) => listen::run(*args).await,
        Command::Trigger(args) => trigger::run(*args).await,
    }
}
