//! Herald under test: a child process started on the run's database, or
//! one already running (--herald-url), and the administrator token to use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use herald_test_support::child::HeraldChild;

use crate::cli::Args;

/// A Herald and how to reach it.
pub struct Herald {
    /// `None` for a Herald already running (--herald-url).
    child: Option<HeraldChild>,
    pub url: String,
    pub token: String,
}

impl Herald {
    /// The Herald of one run: the one at --herald-url, else a new child
    /// with every role, on `database`, with a new administrator token.
    pub fn for_run(args: &Args, database: &str, dir: &Path) -> anyhow::Result<Herald> {
        Ok(match &args.herald_url {
            Some(url) => Herald {
                child: None,
                url: url.clone(),
                token: args.token.clone().unwrap_or_default(),
            },
            None => {
                let token = create_token(args, database)?;
                let mut herald = Herald::start(args, database, dir, "all")?;
                herald.token = token;
                herald
            }
        })
    }

    /// Starts a child Herald with `role` on `database`, its files in `dir`,
    /// without the limits that would hold the bench back. With
    /// --error-share, the receiver answers errors, so deliveries get
    /// enough attempts that none is given up.
    pub fn start(args: &Args, database: &str, dir: &Path, role: &str) -> anyhow::Result<Herald> {
        let exe = herald_exe(args)?;
        let mut flags = vec![
            "--role",
            role,
            "--allow-private-targets",
            "--require-verification",
            "false",
            "--rate-limit",
            "0",
            // The bench is one client on loopback with up to 512
            // connections.
            "--max-connections-per-client",
            "0",
            "--delivery-timeout",
            "2s",
            "--retry-schedule",
            "1s",
            // A webhook that times out keeps costing: it is not disabled.
            "--disable-after-failures",
            "0",
        ];
        if args.error_share > 0.0 {
            flags.extend(["--max-attempts", "100"]);
        }
        let child = HeraldChild::start(&exe, database, dir, &flags, "warn,herald=info")
            .with_context(|| format!("starting {}", exe.display()))?;
        Ok(Herald {
            url: format!("http://{}", child.address),
            child: Some(child),
            token: String::new(),
        })
    }

    /// Its process id, when it is our child.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(HeraldChild::pid)
    }

    /// A graceful stop (SIGTERM); dropped, it is killed.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            child.terminate();
        }
    }
}

/// The `herald` to run: --herald, else the one beside this executable.
fn herald_exe(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(exe) = &args.herald {
        if !exe.exists() {
            bail!("--herald: {} not found", exe.display());
        }
        return Ok(exe.clone());
    }
    let me = std::env::current_exe()?;
    let exe = me.with_file_name("herald");
    if !exe.exists() {
        bail!(
            "{} not found: build it with `cargo build --release`, or name one with --herald",
            exe.display()
        );
    }
    Ok(exe)
}

/// A new administrator token, made by `herald token create` on `database`.
fn create_token(args: &Args, database: &str) -> anyhow::Result<String> {
    let output = Command::new(herald_exe(args)?)
        .args([
            "token",
            "create",
            "--account",
            "bench",
            "--role",
            "administrator",
            "--database",
            database,
        ])
        .output()?;
    if !output.status.success() {
        bail!(
            "token create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}
