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
    loop {
        let Some(line) = lines.next() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "herald exited before listening",
            ));
        };
        if let Some(rest) = line?.split("address=").nth(1) {
            return Ok(rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string());
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
    /// `log_filter` (`HERALD_CONFIG` unset: only flags configure it), and
    /// waits until it listens.
    pub fn start(
        exe: &Path,
        database: &str,
        data_dir: &Path,
        flags: &[&str],
        log_filter: &str,
    ) -> std::io::Result<HeraldChild> {
        let mut child = KillOnDrop(
            Command::new(exe)
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
                .env("HERALD_LOG", log_filter)
                .env_remove("HERALD_CONFIG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        let stderr = child.0.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let address = listening_address(&mut lines)?;
        // Keep reading stderr so the child never blocks on a full pipe.
        let log = Arc::new(Mutex::new(String::new()));
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

    /// Everything the child logged after it started listening.
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
