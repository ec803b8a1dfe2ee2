//! `herald serve` as a child process on a random port, as users run it:
//! this package's `herald`, logging at `trace`.

use std::path::Path;

pub use herald_test_support::child::{HeraldChild, KillOnDrop, listening_address};

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

pub fn start(database: &str, data_dir: &Path) -> HeraldChild {
    start_with(database, data_dir, &[])
}

/// With more `serve` flags.
pub fn start_with(database: &str, data_dir: &Path, extra: &[&str]) -> HeraldChild {
    let flags = [extra, &QUICK_DELIVERY].concat();
    start_plain(database, data_dir, &flags)
}

/// With only these `serve` flags besides the database, a random port on
/// loopback and the data folder.
pub fn start_plain(database: &str, data_dir: &Path, flags: &[&str]) -> HeraldChild {
    let exe = Path::new(env!("CARGO_BIN_EXE_herald"));
    HeraldChild::start(exe, database, data_dir, flags, "trace").unwrap()
}

/// As [`start_plain`], with `HERALD_LOG` set to `filter`, or unset for
/// `None` (the log as `--log-level` says). Every line of the log is kept,
/// those before the listening one too.
pub fn start_logging(
    database: &str,
    data_dir: &Path,
    flags: &[&str],
    filter: Option<&str>,
) -> HeraldChild {
    let exe = Path::new(env!("CARGO_BIN_EXE_herald"));
    HeraldChild::start_logging(exe, database, data_dir, flags, filter).unwrap()
}
