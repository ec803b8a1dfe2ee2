//! The command line: `serve`, `migrate` and `token create`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ConfigFile, Settings};
use crate::domain::Role;

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
        /// The person's role: administrator, publisher or member.
        #[arg(long)]
        role: Role,
        /// The person's name (finds an existing person of that name).
        #[arg(long)]
        name: Option<String>,
        /// The person's e-mail (finds an existing person with that address).
        #[arg(long)]
        email: Option<String>,
        /// Database URL [default: sqlite://herald.db].
        #[arg(long, env = "HERALD_DATABASE")]
        database: Option<String>,
    },
}
