//! The console's counts of deliveries: the overview's outcomes of the last
//! 24 hours and its queue, and each webhook's success over 24 hours, for
//! the signed-in account alone.

use serde_json::{Value, json};

use super::Console;
use crate::on_databases;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp, delivery_settings};

on_databases!(the_overview_and_the_list_count_deliveries_by_outcome);

/// Waits until every delivery of `hook` has had its first attempt.
async fn attempted(app: &TestApp, hook: &Value, n: usize) {
    let what = format!("{n} deliveries of webhook {} attempted", hook["id"]);
    app.newest_delivery_when("acme", hook, &what, |d| d.attempts == 1)
        .await;
    crate::support::eventually(&what, || async {
        let all = app.deliveries("acme", hook).await;
        (all.len() == n && all.iter().all(|d| d.attempts == 1)).then_some(())
    })
    .await;
}

async fn the_overview_and_the_list_count_deliveries_by_outcome(backend: Backend) {
    let mut settings = delivery_settings();
    // A failed attempt waits an hour for the next: it stays queued.
    settings.retry_schedule = Some("1h".into());
    let Some(app) = TestApp::running(backend, settings).await else {
        return;
    };
    let ok = Receiver::ok().await;
    let failing = Receiver::scripted(|_| Reply::status(500)).await;
    let token = app.admin("acme").await;
    let hook = |name: &str, receiver: &Receiver| json!({ "name": name, "event": "task.update", "uri": receiver.url("/") });
    let sent = app.create_webhook(&token, hook("Sent", &ok)).await;
    let waiting = app.create_webhook(&token, hook("Waiting", &failing)).await;
    let dropped = app.create_webhook(&token, hook("Dropped", &failing)).await;
    // Another account's deliveries count for it alone.
    let other = app.admin("other").await;
    app.create_webhook(&other, hook("Elsewhere", &ok)).await;
    app.publish(&other, json!({ "event": "task.update", "object_id": 9 }))
        .await;
    for object_id in [1, 2] {
        app.publish(
            &token,
            json!({ "event": "task.update", "object_id": object_id }),
        )
        .await;
    }
    for hook in [&sent, &waiting, &dropped] {
        attempted(&app, hook, 2).await;
    }
    // Disabling gives up what the webhook had queued.
    let path = format!("/v1/webhooks/{}", dropped["id"]);
    app.patch(&path, &token, json!({ "disabled": true })).await;
    app.given_up("acme", &dropped).await;

    let console = Console::sign_in(&app, &token).await;
    let overview = console.get("/console").await.body;
    for (outcome, count) in [
        ("Succeeded", 2),
        ("Given up", 2),
        ("Pending or in flight", 2),
    ] {
        assert!(
            overview.contains(&format!("{outcome}: <strong>{count}</strong>")),
            "{outcome} {count}: {overview}"
        );
    }
    assert!(
        overview.contains("<dt>Pending or in flight</dt><dd>2</dd>"),
        "{overview}"
    );
    assert!(
        overview.contains("<dt>Due now</dt><dd>0</dd>"),
        "{overview}"
    );

    let list = console.get("/console/webhooks").await.body;
    let row = |name: &str| {
        let start = list.find(&format!(">{name}</a>")).expect(name);
        let end = list[start..].find("</tr>").unwrap() + start;
        list[start..end].to_string()
    };
    assert!(row("Sent").contains("100 % (2 of 2)"), "{}", row("Sent"));
    assert!(
        row("Waiting").contains("no finished deliveries"),
        "{}",
        row("Waiting")
    );
    assert!(
        row("Dropped").contains("0 % (0 of 2)"),
        "{}",
        row("Dropped")
    );
    assert!(!list.contains("Elsewhere"));
}
