//! The perf control FIFO: which phases --perf-phase can name, and the
//! `enable`/`disable` marks written around the chosen one.

use crate::cli::Args;

/// The phases --perf-phase can name.
pub const PERF_PHASES: [&str; 10] = [
    "single",
    "batched",
    "fan-out-1",
    "fan-out-10",
    "latency-100",
    "latency-1000",
    "latency-5000",
    "mix-alone",
    "mix-beside",
    "drain",
];

impl Args {
    /// Whether a run with these options has the --perf-phase `phase`.
    pub fn runs_phase(&self, phase: &str) -> bool {
        if self.mix_pairs > 0 {
            return phase.starts_with("mix-");
        }
        match phase {
            "latency-1000" | "latency-5000" => !self.quick,
            "drain" => self.herald_url.is_none() && self.backlog > 0,
            _ => true,
        }
    }

    /// Tells the `perf` at --perf-control that `phase` starts (`running`)
    /// or ends, if it is the --perf-phase.
    pub fn perf_mark(&self, phase: &str, running: bool) {
        let (Some(fifo), Some(chosen)) = (&self.perf_control, &self.perf_phase) else {
            return;
        };
        if chosen != phase {
            return;
        }
        let command: &[u8] = if running { b"enable\n" } else { b"disable\n" };
        let written = std::fs::OpenOptions::new()
            .write(true)
            .open(fifo)
            .and_then(|mut f| std::io::Write::write_all(&mut f, command));
        if let Err(error) = written {
            eprintln!("--perf-control {}: {error}", fifo.display());
        }
    }
}
