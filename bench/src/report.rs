//! The report: each database's table of medians on stdout, and with --json
//! the same figures, with every run's values, in a file.

use serde_json::{Map, Value, json};

use crate::cli::Args;
use crate::phases::Figures;
use crate::stats::{machine, median};

/// Each database's figures, for the JSON.
pub struct Report {
    json: Map<String, Value>,
}

impl Report {
    /// Prints the report's header: the machine, and any --error-share.
    pub fn start(args: &Args) -> Report {
        println!("herald-bench on {}", machine());
        if args.error_share > 0.0 {
            println!(
                "the receiver answers 500 to {} % of requests",
                args.error_share
            );
        }
        Report { json: Map::new() }
    }

    /// Prints `backend`'s table, each figure's median over `runs`, and keeps
    /// the figures for the JSON.
    pub fn add(&mut self, backend: &str, runs: &[Figures]) {
        println!("\n{backend} (median of {} runs)", runs.len());
        println!("{:<46} {:>14}", "measurement", "value");
        let mut backend_report = Map::new();
        for (i, (name, _, unit)) in runs[0].iter().enumerate() {
            let values: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
            let value = median(values.clone());
            println!("{name:<46} {value:>14.3}");
            let figure = json!({ "median": value, "unit": unit, "runs": values });
            backend_report.insert(name.clone(), figure);
        }
        self.json
            .insert(backend.to_string(), Value::Object(backend_report));
    }

    /// Writes the JSON to --json, if it was given.
    pub fn finish(mut self, args: &Args) -> anyhow::Result<()> {
        self.json.insert("machine".into(), Value::String(machine()));
        self.json
            .insert("error_share".into(), json!(args.error_share));
        if let Some(path) = &args.json {
            std::fs::write(
                path,
                serde_json::to_string_pretty(&Value::Object(self.json))?,
            )?;
        }
        Ok(())
    }
}
