//! Never lost, never sent twice at once: a crashed Herald delivers
//! everything after a restart, and workers sharing a database split the
//! work without duplicates.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use herald::delivery::{Engine, Mailer};
use herald::store;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::on_databases;
use crate::support::child;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp, delivery_settings, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_herald_delivers_everything_after_a_restart() {
    const EVENTS: i64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "token",
            "create",
            "--account",
            "wdc",
            "--role",
            "administrator",
            "--database",
            &database,
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let receiver = Receiver::scripted(|_| Reply::ok().after(Duration::from_millis(15))).await;

    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let herald = child::start(&database, dir.path());
    let created = client
        .post(herald.url("/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({ "event": "task.update", "uri": receiver.url("/") }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    for chunk in 0..EVENTS / 50 {
        let batch: Vec<Value> = (0..50)
            .map(|i| json!({ "event": "task.update", "object_id": chunk * 50 + i }))
            .collect();
        let response = client
            .post(herald.url("/v1/events"))
            .bearer_auth(&token)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    receiver.wait_for(20).await;
    herald.kill();
    let before_restart = receiver.count();
    assert!(
        before_restart < EVENTS as usize,
        "the kill came too late to test anything"
    );

    let _restarted = child::start(&database, dir.path());
    let seen = eventually("every event after the restart", || async {
        let seen: HashSet<i64> = receiver
            .received()
            .iter()
            .filter_map(|r| r.body["object_id"].as_i64())
            .collect();
        (seen.len() == EVENTS as usize).then_some(seen)
    })
    .await;
    assert_eq!(seen, (0..EVENTS).collect());
}

on_databases!(two_workers_on_one_database_never_send_a_delivery_twice);

async fn two_workers_on_one_database_never_send_a_delivery_twice(backend: Backend) {
    const EVENTS: usize = 400;
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    // A second worker with its own connections, as another process would have.
    let other_store = store::connect(&app.database_url).await.unwrap();
    let shutdown = CancellationToken::new();
    let (wake, mail_wake) = (
        std::sync::Arc::new(Notify::new()),
        std::sync::Arc::new(Notify::new()),
    );
    let engine = Engine::new(
        other_store.clone(),
        app.config.clone(),
        app.sealer.clone(),
        wake.clone(),
        mail_wake.clone(),
    )
    .unwrap();
    let second = tokio::spawn(engine.run(shutdown.clone()));
    let mailer = tokio::spawn(
        Mailer::new(other_store, &app.config.mail, mail_wake)
            .unwrap()
            .run(shutdown.clone()),
    );

    let receiver = Receiver::scripted(|_| Reply::ok().after(Duration::from_millis(2))).await;
    let token = app.admin("wdc").await;
    app.task_hook(&token, &receiver).await;
    for chunk in 0..EVENTS / 100 {
        let batch: Vec<Value> = (0..100)
            .map(|i| json!({ "event": "task.update", "object_id": chunk * 100 + i }))
            .collect();
        app.publish(&token, Value::Array(batch)).await;
        wake.notify_one();
    }
    receiver.wait_for(EVENTS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for message in &received {
        *per_delivery
            .entry(message.header("x-r-service-delivery").unwrap().to_string())
            .or_default() += 1;
    }
    let twice: Vec<_> = per_delivery.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(received.len(), EVENTS);
    shutdown.cancel();
    second.await.unwrap();
    mailer.await.unwrap();
}

on_databases!(deliveries_handed_over_by_publishes_are_sent_once_and_recorded);

/// Publishes one at a time (each handed straight to the idle engine), then
/// from several clients at once with fewer slots than deliveries (some
/// handed over, some queued): each delivery is sent exactly once and
/// recorded as one successful attempt.
async fn deliveries_handed_over_by_publishes_are_sent_once_and_recorded(backend: Backend) {
    const CLIENTS: usize = 4;
    const EACH: usize = 25;
    let settings = herald::config::Settings {
        delivery_concurrency: Some(4),
        ..delivery_settings()
    };
    let Some(app) = TestApp::running(backend, settings).await else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::ok().after(Duration::from_millis(3))).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    // One at a time: the engine is idle, so each goes straight to it.
    for i in 0..EACH {
        app.publish(&token, json!({ "event": "task.update", "object_id": i }))
            .await;
        receiver.wait_for(i + 1).await;
    }
    // All at once: some handed over, some queued.
    let mut clients = Vec::new();
    for client in 1..CLIENTS {
        let (app, token) = (app.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            for i in 0..EACH {
                let object_id = (client * EACH + i) as i64;
                app.publish(
                    &token,
                    json!({ "event": "task.update", "object_id": object_id }),
                )
                .await;
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    receiver.wait_for(CLIENTS * EACH).await;
    // Give a second sending the chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    let uuids: HashSet<&str> = received
        .iter()
        .map(|m| m.header("x-r-service-delivery").unwrap())
        .collect();
    assert_eq!(
        (received.len(), uuids.len()),
        (CLIENTS * EACH, CLIENTS * EACH)
    );
    let records = eventually("every delivery to be recorded", || async {
        let records = app.deliveries("wdc", &hook).await;
        records
            .iter()
            .all(|r| r.status == herald::domain::delivery::DeliveryStatus::Succeeded)
            .then_some(records)
    })
    .await;
    assert_eq!(records.len(), CLIENTS * EACH);
    assert!(records.iter().all(|r| r.attempts == 1), "{records:?}");
}

/// `--role api` takes events without sending them; a `--role worker`
/// process on the same database sends them and answers only `/healthz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_worker_roles_split_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "token",
            "create",
            "--account",
            "wdc",
            "--role",
            "administrator",
            "--database",
            &database,
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let receiver = Receiver::ok().await;
    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let api = child::start_with(&database, dir.path(), &["--role", "api"]);
    let created = client
        .post(api.url("/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({ "event": "task.update", "uri": receiver.url("/") }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let published = client
        .post(api.url("/v1/events"))
        .bearer_auth(&token)
        .json(&json!({ "event": "task.update", "object_id": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 0, "an api-only process sends nothing");

    let worker = child::start_with(&database, dir.path(), &["--role", "worker"]);
    receiver.wait_for(1).await;
    let health = client.get(worker.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let api_on_worker = client
        .get(worker.url("/v1/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api_on_worker.status(), 404);
}
