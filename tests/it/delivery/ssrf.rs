//! The SSRF guard (§9): every spelling of a non-public address is refused
//! before a connection is made, names included, unless configured.

use std::time::Duration;

use herald::delivery::sender::{Failure, Sender};
use herald::domain::target::TargetPolicy;
use serde_json::json;

use crate::on_databases;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, delivery_settings};

/// Loopback spelled every way the URL standard and resolvers accept.
fn loopback_forms(port: u16) -> Vec<String> {
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "0x7f000001",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "localhost",
    ]
    .iter()
    .map(|host| format!("http://{host}:{port}/"))
    .collect()
}

#[tokio::test]
async fn refuses_every_spelling_of_loopback_without_connecting() {
    let receiver = Receiver::ok().await;
    let sender = Sender::new(Duration::from_secs(5), TargetPolicy::default()).unwrap();
    for url in loopback_forms(receiver.address.port()) {
        let outcome = sender.post(&url, Default::default(), b"{}".to_vec()).await;
        match outcome {
            Err(Failure::Refused(reason)) => {
                assert!(reason.starts_with("loopback address"), "{url}: {reason}")
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn refuses_private_link_local_and_other_reserved_literals() {
    let sender = Sender::new(Duration::from_secs(1), TargetPolicy::default()).unwrap();
    for (url, kind) in [
        ("http://10.0.0.5/", "private address 10.0.0.5"),
        ("http://192.168.1.1/", "private address 192.168.1.1"),
        (
            "http://169.254.169.254/latest/meta-data",
            "link-local address 169.254.169.254",
        ),
        ("http://100.64.1.1/", "shared (CGNAT) address 100.64.1.1"),
        ("http://0.0.0.0/", "unspecified address 0.0.0.0"),
        ("http://[fd12::1]/", "unique-local address fd12::1"),
        ("http://[fe80::1]/", "link-local address fe80::1"),
        ("http://224.0.0.1/", "multicast address 224.0.0.1"),
        (
            "http://[::ffff:10.0.0.1]/",
            "private address ::ffff:10.0.0.1",
        ),
    ] {
        let outcome = sender.post(url, Default::default(), Vec::new()).await;
        assert_eq!(
            outcome.unwrap_err(),
            Failure::Refused(kind.to_string()),
            "{url}"
        );
    }
}

#[tokio::test]
async fn allowed_ranges_and_the_switch_open_the_guard() {
    let receiver = Receiver::ok().await;
    let port = receiver.address.port();
    let ranged = TargetPolicy {
        allow_private: false,
        allowed: vec!["127.0.0.0/8".parse().unwrap()],
    };
    let sender = Sender::new(Duration::from_secs(5), ranged).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let reply = sender
            .post(&url, Default::default(), b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{url}");
        assert_eq!(reply.remote.unwrap().ip().to_string(), "127.0.0.1");
    }
    let open = Sender::new(
        Duration::from_secs(5),
        TargetPolicy {
            allow_private: true,
            allowed: vec![],
        },
    )
    .unwrap();
    assert!(
        open.post(
            &format!("http://127.0.0.1:{port}/"),
            Default::default(),
            Vec::new()
        )
        .await
        .is_ok()
    );
    assert_eq!(receiver.count(), 4);
}

on_databases!(a_name_resolving_to_loopback_is_a_failed_attempt_with_the_reason);

async fn a_name_resolving_to_loopback_is_a_failed_attempt_with_the_reason(backend: Backend) {
    let mut settings = delivery_settings();
    settings.allow_private_targets = Some(false);
    settings.max_attempts = Some(1);
    let Some(app) = TestApp::running(backend, settings).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let uri = format!("http://localhost:{}/", receiver.address.port());
    let hook = app
        .create_webhook(&token, json!({ "event": "task.update", "uri": uri }))
        .await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app.given_up("wdc", &hook).await;
    let error = delivery.last_error.unwrap();
    assert!(error.starts_with("refused: loopback address"), "{error}");
    assert_eq!(app.webhook_now(&token, &hook).await["last_error"], error);
    assert_eq!(receiver.count(), 0);
}
