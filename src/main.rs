use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use herald::cli::{Cli, Command, TokenCommand};
use herald::config::{Config, Settings};
use herald::crypto::tokens::{generate_token, hash_token};
use herald::domain::AccountId;
use herald::domain::time::now_epoch;
use herald::store::{self, PersonSpec};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// mimalloc: in profiles glibc's malloc and free took about a fifth of
/// Herald's CPU under load, and its arenas kept memory after peaks. Its
/// `override` feature (Cargo.toml) serves the C code's `malloc` too, that
/// is SQLite's; with SQLite's memory statistics off (`.cargo/config.toml`)
/// that took a fifth off the CPU per delivery on SQLite.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("HERALD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (stderr a pipe whose reader is
        // gone) is dropped: reporting it would panic the task that logged.
        .log_internal_errors(false)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not `eprintln!`, which panics when stderr is gone.
            let _ = writeln!(std::io::stderr(), "herald: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config_file.config.as_deref();
    match cli.command {
        Command::Serve { settings } => {
            let config = Config::load(file, *settings)?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("listening on {}", config.listen))?;
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            herald::run(config, listener, shutdown).await
        }
        Command::Migrate { database } => {
            let config = Config::load(
                file,
                Settings {
                    database,
                    ..Default::default()
                },
            )?;
            store::connect(&config.database).await?;
            eprintln!(
                "migrations applied to {}",
                herald::config::redact_url(&config.database)
            );
            Ok(())
        }
        Command::Verify {
            public_key,
            secret_file,
            audience,
            issuer,
            leeway,
        } => {
            use herald::crypto::{jws, keys::VerifyingKey};
            let key = match (public_key, secret_file) {
                (Some(path), _) => {
                    let pem = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    VerifyingKey::from_public_pem(&pem)?
                }
                (None, Some(path)) => {
                    let secret = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    VerifyingKey::hmac(secret.trim().as_bytes())
                }
                (None, None) => anyhow::bail!("give --public-key or --secret-file"),
            };
            let mut body = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut body)
                .context("reading stdin")?;
            let expect = jws::Expectations {
                audience,
                issuer,
                now: now_epoch(),
                leeway,
            };
            let claims =
                jws::verify(&jws::token_of(&body)?, &key, &expect).context("invalid message")?;
            println!("{}", claims["data"]);
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    account,
                    role,
                    name,
                    email,
                    database,
                },
        } => {
            let config = Config::load(
                file,
                Settings {
                    database,
                    ..Default::default()
                },
            )?;
            let account = AccountId::parse(&account).map_err(anyhow::Error::msg)?;
            if let Some(email) = &email {
                anyhow::ensure!(
                    email_address::EmailAddress::is_valid(email),
                    "{email:?} is not an e-mail address"
                );
            }
            let store = store::connect(&config.database).await?;
            let now = now_epoch();
            store
                .ensure_account(&account, account.as_str(), now)
                .await?;
            let token = generate_token();
            let person = PersonSpec { name, email, role };
            store
                .create_token(&account, &person, &hash_token(&token), now)
                .await?;
            println!("{token}");
            Ok(())
        }
    }
}

/// Cancels `shutdown` on ctrl-c or SIGTERM. SIGTERM's handler is in place
/// when this returns, before the future first runs.
fn cancel_on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match terminate {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate => {}
        }
        shutdown.cancel();
        tracing::info!("shutting down");
    }
}
