//! `herald serve` as a child process on a random port of loopback, as
//! users run it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// Reads a starting `herald serve`'s log up to the line saying where it
/// listens, and returns that address.
pub fn listening_address(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> std::io::Result<String> {
    listening_address_keeping(lines, &mut String::new())
}

/// As [`listening_address`], with each line read added to `seen`. Reads
/// the text log's `address=…` and the JSON log's `"address"` field alike.
fn listening_address_keeping(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    seen: &mut String,
) -> std::io::Result<String> {
    loop {
        let Some(line) = lines.next() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("herald exited before listening; its log:\n{seen}"),
            ));
        };
        let line = line?;
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("address=").nth(1) {
            return Ok(rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string());
        }
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
            && json["message"] == "herald listening"
            && let Some(address) = json["fields"]["address"].as_str()
        {
            return Ok(address.to_string());
        }
    }
}

/// A child process, killed and reaped when dropped: a failing test or run
/// leaves none behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `herald serve` child process, killed when dropped.
pub struct HeraldChild {
    child: KillOnDrop,
    /// Where it listens (`127.0.0.1:<port>`).
    pub address: String,
    log: Arc<Mutex<String>>,
}

impl HeraldChild {
    /// Starts `exe serve` on `database` with `data_dir`, listening on a
    /// random port of loopback, with `flags` besides and `HERALD_LOG` set to
    /// `log_filter`, and waits until it listens.
    pub fn start(
        exe: &Path,
        database: &str,
        data_dir: &Path,
        flags: &[&str],
        log_filter: &str,
    ) -> std::io::Result<HeraldChild> {
        HeraldChild::start_logging(exe, database, data_dir, flags, Some(log_filter))
    }

    /// As [`HeraldChild::start`], with `HERALD_LOG` unset for `None` (the
    /// log as the flags say). Only flags configure it: `HERALD_CONFIG` and
    /// the log's variables are unset.
    pub fn start_logging(
        exe: &Path,
        database: &str,
        data_dir: &Path,
        flags: &[&str],
        log_filter: Option<&str>,
    ) -> std::io::Result<HeraldChild> {
        let mut command = Command::new(exe);
        match log_filter {
            Some(filter) => command.env("HERALD_LOG", filter),
            None => command.env_remove("HERALD_LOG"),
        };
        let mut child = KillOnDrop(
            command
                .args([
                    "serve",
                    "--database",
                    database,
                    "--listen",
                    "127.0.0.1:0",
                    "--data-dir",
                ])
                .arg(data_dir)
                .args(flags)
                .env_remove("HERALD_CONFIG")
                .env_remove("HERALD_LOG_FORMAT")
                .env_remove("HERALD_LOG_LEVEL")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        let stderr = child.0.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        let address = listening_address_keeping(&mut lines, &mut seen)?;
        // Keep reading stderr so the child never blocks on a full pipe.
        let log = Arc::new(Mutex::new(seen));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Ok(HeraldChild {
            child,
            address,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Everything the child logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Stops it at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        self.child.0.kill().unwrap();
        self.child.0.wait().unwrap();
    }

    /// Stops it gracefully (SIGTERM) and waits until it has.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.0.id().to_string())
            .status();
        let _ = self.child.0.wait();
    }
}
