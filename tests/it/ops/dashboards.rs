//! The dashboard and the alerting rules in `docs/` use only metrics Herald
//! exposes, and `/metrics` parses with the Prometheus project's own client
//! (`tests/tools/check_metrics.py`, an independent reader).

use std::process::Command;

use herald::config::Settings;
use serde_json::json;

use crate::on_databases;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp, delivery_settings};

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/check_metrics.py");
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana/herald.json");
const ALERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/prometheus/alerts.yml");

async fn the_scrape_parses_as_prometheus_text_and_the_dashboards_use_only_its_metrics(
    backend: Backend,
) {
    let settings = Settings {
        metrics_per_webhook: Some(true),
        max_attempts: Some(1),
        ..delivery_settings()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let token = app.admin("wdc").await;
    let ok = Receiver::ok().await;
    let failing = Receiver::scripted(|_| Reply::status(500)).await;
    app.task_hook(&token, &ok).await;
    app.task_hook(&token, &failing).await;
    let herald = app.observe().await;
    let (status, _) = herald
        .post(
            "/v1/events",
            &token,
            json!({ "event": "task.update", "object_id": 1 }),
        )
        .await;
    assert_eq!(status, 202);
    // Every series the dashboards read exists once its event happened.
    herald
        .metric_reaches("herald_delivery_attempt_duration_seconds_count", &[], 2.0)
        .await;
    let scrape = herald
        .metric_reaches("herald_delivery_latency_seconds_count", &[], 1.0)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &scrape.text).unwrap();
    let checked = Command::new("python3")
        .arg(CHECKER)
        .arg(&file)
        .args([DASHBOARD, ALERTS])
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        report["used"].as_object().unwrap().len() >= 15,
        "the dashboards use few metrics: {report}"
    );
}

on_databases!(the_scrape_parses_as_prometheus_text_and_the_dashboards_use_only_its_metrics);
