//! `herald serve` as a child process on a random port, as users run it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// Reads a starting `herald serve`'s log up to the line saying where it
/// listens, and returns that address.
pub fn listening_address(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> String {
    loop {
        let line = lines
            .next()
            .expect("herald exited before listening")
            .unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            return rest.split_whitespace().next().unwrap().to_string();
        }
    }
}

/// A child process, killed and reaped when dropped: a failing test leaves
/// none behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Flags for tests that deliver to receivers on loopback, quickly.
const QUICK_DELIVERY: [&str; 11] = [
    "--allow-private-targets",
    "--require-verification",
    "false",
    "--rate-limit",
    "0",
    "--retry-schedule",
    "200ms",
    "--delivery-timeout",
    "1s",
    "--delivery-concurrency",
    "4",
];

/// A `herald serve` child process, killed when dropped.
pub struct Herald {
    child: KillOnDrop,
    pub address: String,
    log: Arc<Mutex<String>>,
}

impl Herald {
    pub fn start(database: &str, data_dir: &std::path::Path) -> Herald {
        Herald::start_with(database, data_dir, &[])
    }

    /// With more `serve` flags.
    pub fn start_with(database: &str, data_dir: &std::path::Path, extra: &[&str]) -> Herald {
        let flags = [extra, &QUICK_DELIVERY].concat();
        Herald::start_plain(database, data_dir, &flags)
    }

    /// With only these `serve` flags besides the database, a random port on
    /// loopback and the data folder; logging at `trace`.
    pub fn start_plain(database: &str, data_dir: &std::path::Path, flags: &[&str]) -> Herald {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
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
            .env("HERALD_LOG", "trace")
            .env_remove("HERALD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = listening_address(&mut lines);
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
        Herald {
            child: KillOnDrop(child),
            address,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Everything the child logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn kill(mut self) {
        self.child.0.kill().unwrap(); // SIGKILL
        self.child.0.wait().unwrap();
    }
}
