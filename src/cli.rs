//! The command line: `serve`, `migrate` and `token create`.

use clap::{Parser, Subcommand};

use crate::config::{ConfigFile, Settings};
use crate::domain::Role;

#[derive(Debug, Parser)]
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (applies pending migrations first).
    Serve {
        #[command(flatten)]
        settings: Settings,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// Database URL [default: sqlite://herald.db].
        #[arg(long, env = "HERALD_DATABASE")]
        database: Option<String>,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
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
