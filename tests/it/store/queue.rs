//! The delivery queue as the store keeps it: publishing with a lease
//! offered (the handoff), claims, outcomes recorded only under their
//! lease, deferral; on PostgreSQL, which rows its statements read.

use axum::http::StatusCode;
use serde_json::json;

use crate::api::events::{event, unverified};
use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    concurrent_batches_with_the_same_keys_in_any_order_all_succeed,
    a_publish_leases_new_deliveries_up_to_the_offered_limit,
    a_lease_passes_over_webhooks_at_their_limit,
    a_lease_carries_over_the_statements_of_a_large_publish,
    an_outcome_is_recorded_only_while_its_lease_holds,
    a_publish_hands_its_worker_the_deliveries_as_stored,
    deferring_moves_only_a_webhooks_queued_deliveries,
    every_delivery_gets_its_own_version_4_uuid,
);

/// Publishes that use the same keys in opposite orders, committed side by
/// side (PostgreSQL runs several publish transactions at once), never wait
/// for each other's keys in a cycle: all succeed, and each key makes one
/// event, which every publish answers with.
async fn concurrent_batches_with_the_same_keys_in_any_order_all_succeed(app: TestApp) {
    use herald::domain::time::{now_epoch, now_millis};
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    app.webhook(&admin, "request.create").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = app.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut keys: Vec<usize> = (0..12).collect();
            if i % 2 == 1 {
                keys.reverse();
            }
            let events = keys
                .iter()
                .map(|k| herald::domain::event::NewEvent {
                    event: herald::domain::EventName::parse("request.create").unwrap(),
                    object_id: *k as i64,
                    person_id: None,
                    person_name: None,
                    payload: json!({}),
                    links: Default::default(),
                    idempotency_key: Some(format!("k{k}")),
                    webhook_id: None,
                })
                .collect();
            let request = herald::store::PublishRequest {
                account: herald::domain::AccountId::parse("wdc").unwrap(),
                events,
            };
            let outcome = store
                .publish(&[request], 24 * 3600, now_epoch(), now_millis(), None)
                .await;
            (keys, outcome)
        }));
    }
    let mut ids = std::collections::HashMap::new();
    for task in tasks {
        let (keys, outcome) = task.await.unwrap();
        let outcome = outcome.expect("a publish failed");
        for (k, answer) in keys.iter().zip(&outcome.answers[0]) {
            assert_eq!(*ids.entry(*k).or_insert(answer.id), answer.id, "key k{k}");
        }
    }
    let mut distinct: Vec<i64> = ids.values().copied().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!((ids.len(), distinct.len()), (12, 12));
}

/// A lease of worker `worker-a`, as its handoff would offer it.
fn lease(limit: usize, pass_over: Vec<i64>) -> herald::domain::delivery::Lease {
    herald::domain::delivery::Lease {
        owner: "worker-a:p0".into(),
        until_ms: herald::domain::time::now_millis() + 60_000,
        limit,
        pass_over,
    }
}

/// The failure policy of tests that record outcomes through the store.
const POLICY: herald::domain::delivery::FailurePolicy = herald::domain::delivery::FailurePolicy {
    disable_after_failures: 3,
    mail_interval_secs: 3600,
};

/// A successful attempt of delivery `id` to `webhook`, under `owner`'s lease.
fn success(
    id: i64,
    owner: &str,
    webhook: i64,
    record: Option<herald::domain::delivery::AttemptRecord>,
) -> herald::domain::delivery::AttemptResult {
    herald::domain::delivery::AttemptResult {
        delivery_id: id,
        lease_owner: owner.into(),
        webhook_id: webhook,
        kind: herald::domain::event::EventKind::Event,
        attempted: true,
        succeeded: true,
        retry_at_ms: None,
        error: None,
        gone: false,
        record,
        message: Some("{}".into()),
    }
}

/// `n` `request.create` events of account `wdc`, published straight
/// through the store in one request with `lease`.
async fn publish_events(
    app: &TestApp,
    n: i64,
    lease: &herald::domain::delivery::Lease,
) -> herald::domain::delivery::PublishOutcome {
    publish_padded_events(app, n, 0, lease).await
}

/// As [`publish_events`], each payload padded with `pad` bytes.
async fn publish_padded_events(
    app: &TestApp,
    n: i64,
    pad: usize,
    lease: &herald::domain::delivery::Lease,
) -> herald::domain::delivery::PublishOutcome {
    use herald::domain::time::{now_epoch, now_millis};
    let new_event = |object_id| herald::domain::event::NewEvent {
        event: herald::domain::EventName::parse("request.create").unwrap(),
        object_id,
        person_id: None,
        person_name: None,
        payload: if pad == 0 {
            json!({})
        } else {
            json!({ "pad": "x".repeat(pad) })
        },
        links: Default::default(),
        idempotency_key: None,
        webhook_id: None,
    };
    let request = herald::store::PublishRequest {
        account: herald::domain::AccountId::parse("wdc").unwrap(),
        events: (1..=n).map(new_event).collect(),
    };
    app.store
        .publish(
            &[request],
            24 * 3600,
            now_epoch(),
            now_millis(),
            Some(lease),
        )
        .await
        .unwrap()
}

/// With a lease offered, the first deliveries are stored leased to it (the
/// publishing process sends them without a claim); the rest are queued.
async fn a_publish_leases_new_deliveries_up_to_the_offered_limit(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    for _ in 0..3 {
        app.webhook(&admin, "request.create").await;
    }
    let lease = lease(4, Vec::new());
    let outcome = publish_events(&app, 2, &lease).await;
    assert_eq!(outcome.answers[0].len(), 2);
    assert_eq!(outcome.answers[0][0].deliveries, 3);
    assert_eq!((outcome.leased.len(), outcome.queued), (4, 2));

    let leased = leased_deliveries(&app, &lease, &outcome).await;
    assert_eq!(leased.len(), 4);
    assert!(leased.iter().all(|d| d.lease_owner == lease.owner));
    assert!(leased.iter().all(|d| d.webhook.is_some()));
    // Only the lease's holder loads them.
    let theirs = app
        .store
        .load_claimed("worker-b:1", &leased_ids(&outcome))
        .await
        .unwrap();
    assert!(theirs.is_empty());
    let records = app
        .deliveries(
            "wdc",
            &json!({ "id": leased[0].webhook.as_ref().unwrap().id }),
        )
        .await;
    let record = records.iter().find(|r| r.id == leased[0].id).unwrap();
    assert_eq!(
        record.status,
        herald::domain::delivery::DeliveryStatus::InFlight
    );
    // Another worker's claim finds only the two queued ones.
    let claimed = claim_as_another_worker(&app).await;
    let mut ids: Vec<i64> = claimed.iter().map(|d| d.id).collect();
    ids.extend(leased_ids(&outcome));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((claimed.len(), ids.len()), (2, 6));
}

/// Each delivery's id for receivers (`X-R-Service-Delivery`) is a random
/// UUID in its canonical form: version 4, the RFC 4122 variant, lower-case
/// hex with hyphens, none repeated among many.
async fn every_delivery_gets_its_own_version_4_uuid(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    for _ in 0..2 {
        app.webhook(&admin, "request.create").await;
    }
    let outcome = publish_events(&app, 500, &lease(1000, Vec::new())).await;
    assert_eq!(outcome.leased.len(), 1000);
    let mut seen = std::collections::HashSet::new();
    let mut variants = std::collections::HashSet::new();
    for delivery in &outcome.leased {
        let text = delivery.uuid.as_str();
        let uuid = uuid::Uuid::parse_str(text).unwrap();
        assert_eq!(uuid.get_version_num(), 4, "{text}");
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{text}");
        assert_eq!(uuid.hyphenated().to_string(), text, "canonical form");
        assert!(seen.insert(uuid), "{text} repeated");
        variants.insert(&text[19..20]);
    }
    let mut variants: Vec<&str> = variants.into_iter().collect();
    variants.sort_unstable();
    assert_eq!(
        variants,
        ["8", "9", "a", "b"],
        "the variant's free bits vary"
    );
}

/// A lease passes over webhooks at their limit (the engine skipped their
/// older deliveries): their new deliveries are queued behind those, even
/// with room in the lease; the others' are leased.
async fn a_lease_passes_over_webhooks_at_their_limit(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let hooks = app.webhook_ids(&admin, "request.create", 3).await;
    let lease = lease(3, vec![hooks[1]]);
    let outcome = publish_events(&app, 2, &lease).await;
    assert_eq!((outcome.leased.len(), outcome.queued), (3, 3));
    let leased = leased_deliveries(&app, &lease, &outcome).await;
    // In event then webhook order, passing over the one at its limit:
    // the first event's two others, then the second event's first.
    assert_eq!(webhooks_of(&leased), vec![hooks[0], hooks[0], hooks[2]]);
    let claimed = claim_as_another_worker(&app).await;
    assert_eq!(webhooks_of(&claimed), vec![hooks[1], hooks[1], hooks[2]]);
}

/// An outcome is recorded, with its attempt, only by the worker holding the
/// delivery's lease: a worker whose lease was handed back and claimed by
/// another records nothing, and the delivery stays the other's.
async fn an_outcome_is_recorded_only_while_its_lease_holds(app: TestApp) {
    use herald::domain::delivery::{AttemptRecord, DeliveryStatus, Trigger};
    use herald::domain::time::{now_epoch, now_millis};
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let hook = app.webhook_ids(&admin, "request.create", 1).await[0];
    let lease = lease(1, Vec::new());
    let outcome = publish_events(&app, 1, &lease).await;
    let id = outcome.leased[0].id;
    assert_eq!(
        app.store
            .release_leases("worker-a", now_millis())
            .await
            .unwrap(),
        1
    );
    assert_eq!(claim_as_another_worker(&app).await.len(), 1);
    let succeeded = |owner: &str| {
        let record = AttemptRecord {
            started_at: now_millis(),
            duration_ms: 1,
            response_status: Some(200),
            response_headers: None,
            response_headers_truncated: false,
            response_body: Some(owner.into()),
            response_truncated: false,
            error: None,
            remote_ip: None,
            trigger: Trigger::Automatic,
        };
        success(id, owner, hook, Some(record))
    };
    let account = herald::domain::AccountId::parse("wdc").unwrap();
    let mut shown = Vec::new();
    for owner in ["worker-a:p0", "worker-b:1"] {
        app.store
            .finish_attempts(&[succeeded(owner)], POLICY, now_epoch(), now_millis())
            .await
            .unwrap();
        let (delivery, attempts) = app.store.get_delivery(&account, id).await.unwrap().unwrap();
        let bodies: Vec<String> = attempts
            .into_iter()
            .filter_map(|a| a.response_body)
            .collect();
        shown.push((delivery.status, bodies));
    }
    assert_eq!(
        shown,
        [
            (DeliveryStatus::InFlight, vec![]),
            (DeliveryStatus::Succeeded, vec!["worker-b:1".to_string()]),
        ]
    );
}

/// Deferring a webhook (the engine does it for one that keeps failing at its
/// limit) moves its queued deliveries due before the given time to that
/// time, and nothing else: not its leased one, none due later already, no
/// other webhook's.
async fn deferring_moves_only_a_webhooks_queued_deliveries(app: TestApp) {
    use herald::domain::delivery::DeliveryStatus;
    use herald::domain::time::now_millis;
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let hooks = app.webhook_ids(&admin, "request.create", 2).await;
    let outcome = publish_events(&app, 3, &lease(0, Vec::new())).await;
    assert_eq!((outcome.leased.len(), outcome.queued), (0, 6));
    let now = now_millis();
    let lease_until = now + 10_000;
    let leased = app
        .store
        .claim_due("worker-c:1", now, lease_until, 1, &[hooks[1]])
        .await
        .unwrap();
    assert_eq!(webhooks_of(&leased), [hooks[0]]);

    // After that lease runs out; before the other worker's below (60 s).
    let until = now_millis() + 30_000;
    assert_eq!(app.store.defer_queued(hooks[0], until).await.unwrap(), 2);
    // They are due later than that already: none moves back.
    assert_eq!(
        app.store
            .defer_queued(hooks[0], until - 1_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        webhooks_of(&claim_as_another_worker(&app).await),
        [hooks[1]; 3],
        "a claim now finds only the other webhook's"
    );
    let mut shown: Vec<(DeliveryStatus, i64, i64)> = app
        .deliveries("wdc", &json!({ "id": hooks[0] }))
        .await
        .into_iter()
        .map(|d| (d.status, d.attempts, d.next_attempt_at))
        .collect();
    shown.sort_unstable_by_key(|(status, ..)| *status != DeliveryStatus::InFlight);
    assert_eq!(shown[0], (DeliveryStatus::InFlight, 0, lease_until));
    assert_eq!(
        shown[1..],
        [
            (DeliveryStatus::Pending, 0, until),
            (DeliveryStatus::Pending, 0, until)
        ]
    );
    let later = app
        .store
        .claim_due("worker-b:2", until, until + 60_000, 10, &[])
        .await
        .unwrap();
    assert_eq!(
        webhooks_of(&later),
        [hooks[0]; 3],
        "due at `until`: the two deferred, and the leased one, its lease run out"
    );
}

crate::on_databases!(postgres: held_deliveries_are_left_to_their_holder);

/// PostgreSQL: deferring a webhook's queue, or deleting the webhook, does
/// not wait for a delivery row another transaction holds (a recording, a
/// claim or a hand-back in progress, each locking rows in its own order:
/// waiting could deadlock, and a delete then answered 500). The held row is
/// left to its holder; the others are deferred, then given up. (SQLite has
/// one writer: no other transaction holds a row.)
async fn held_deliveries_are_left_to_their_holder(app: TestApp) {
    use herald::domain::delivery::DeliveryStatus;
    use herald::domain::time::now_millis;
    use sqlx::Connection;
    use std::time::Duration;
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let hook = app.webhook(&admin, "request.create").await;
    let hook_id = hook["id"].as_i64().unwrap();
    let outcome = publish_events(&app, 3, &lease(0, Vec::new())).await;
    assert_eq!(outcome.queued, 3);
    let mut ids: Vec<i64> = app
        .deliveries("wdc", &hook)
        .await
        .iter()
        .map(|d| d.id)
        .collect();
    ids.sort_unstable();

    let mut holder = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM deliveries WHERE id = $1 FOR UPDATE")
        .bind(ids[0])
        .execute(&mut *held)
        .await
        .unwrap();
    let moved = tokio::time::timeout(
        Duration::from_secs(10),
        app.store.defer_queued(hook_id, now_millis() + 60_000),
    )
    .await
    .expect("deferring waited for the held row")
    .unwrap();
    assert_eq!(moved, 2);
    let deleted = tokio::time::timeout(
        Duration::from_secs(10),
        app.delete(&format!("/v1/webhooks/{hook_id}"), &admin),
    )
    .await
    .expect("deleting waited for the held row");
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    held.rollback().await.unwrap();

    let mut shown: Vec<(i64, DeliveryStatus)> = app
        .deliveries("wdc", &hook)
        .await
        .iter()
        .map(|d| (d.id, d.status))
        .collect();
    shown.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(
        shown,
        [
            (ids[0], DeliveryStatus::Pending),
            (ids[1], DeliveryStatus::GivenUp),
            (ids[2], DeliveryStatus::GivenUp),
        ]
    );
}

crate::on_databases!(
    postgres: publishing_reads_only_the_rows_it_needs,
    leased_rows_are_found_by_key_not_through_the_due_index
);

/// Publishing on PostgreSQL runs on plans made once per connection: made
/// here on freshly analyzed tables (few webhooks, no idempotency keys), they
/// must still look up each event's webhooks and keys by index, not read a
/// table or a whole index, which grows after the plan is made. The
/// server's table statistics count the scans and the rows read.
async fn publishing_reads_only_the_rows_it_needs(app: TestApp) {
    use sqlx::Connection;
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    app.webhook_ids(&admin, "request.create", 2).await;
    // Webhooks of another event, which publishing must not read.
    app.webhook_ids(&admin, "problem.update", 200).await;
    let mut watcher = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("ANALYZE webhooks, idempotency_keys")
        .execute(&mut watcher)
        .await
        .unwrap();
    let before = reads_so_far(&mut watcher).await;
    for _ in 0..3 {
        let outcome = publish_events(&app, 1, &lease(1, Vec::new())).await;
        assert_eq!((outcome.leased.len(), outcome.queued), (1, 1));
    }
    // Keyed events take the publish's transaction; the second is a repeat.
    for _ in 0..2 {
        let mut keyed = event("request.create", 7);
        keyed["idempotency_key"] = json!("once");
        let response = app.post("/v1/events", &admin, keyed).await;
        assert_eq!(response.status, StatusCode::ACCEPTED);
    }
    let after = reads_so_far(&mut watcher).await;
    let change: Vec<(&str, i64, i64)> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (b.0.as_str(), a.1 - b.1, a.2 - b.2))
        .collect();
    // 4 events stored, each with its 2 webhooks read; the key row read by
    // key 3 times (the first publish's update of it, the repeat's conflict
    // and its lookup).
    assert_eq!(
        change,
        [("idempotency_keys", 0, 3), ("webhooks", 0, 8)],
        "(table, sequential scans, rows read) by publishing"
    );
}

/// PostgreSQL: loading, handing back and recording leased deliveries find
/// their rows by key and lease owner, not through the partial index of all
/// due deliveries: with `status` tested as well, the planner read that
/// whole index into a bitmap for each of those statements, a million
/// entries beside a backlog of 1,000,000. Nor by reading the whole table,
/// which the planner chose for a recording on a table not analyzed since
/// it grew. The server's statistics count the entries read and the scans.
async fn leased_rows_are_found_by_key_not_through_the_due_index(app: TestApp) {
    use herald::domain::delivery::AttemptResult;
    use herald::domain::time::{now_epoch, now_millis};
    use sqlx::Connection;
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    app.webhook_ids(&admin, "request.create", 2).await;
    // A queue of 8,000 due deliveries, a claim's 512 of them leased.
    for _ in 0..4 {
        let outcome = publish_events(&app, 1_000, &lease(0, Vec::new())).await;
        assert_eq!((outcome.leased.len(), outcome.queued), (0, 2_000));
    }
    let now = now_millis();
    let claimed = app
        .store
        .claim_due("worker-b:1", now, now + 60_000, 512, &[])
        .await
        .unwrap();
    let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 512);
    let mut watcher = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let before = due_index_reads(&mut watcher).await;
    // Loading is SQLite's (claims on PostgreSQL return their rows with
    // their events), and runs outside a transaction: for it, only the index.
    let loaded = app.store.load_claimed("worker-b:1", &ids[..100]).await;
    assert_eq!(loaded.unwrap().len(), 100);
    let loaded = due_index_reads(&mut watcher).await;
    let handed_back = app
        .store
        .release_claims("worker-b", &ids[100..200], now)
        .await;
    assert_eq!(handed_back.unwrap(), 100);
    let results: Vec<AttemptResult> = claimed[200..]
        .iter()
        .map(|c| success(c.id, &c.lease_owner, c.webhook_id(), None))
        .collect();
    app.store
        .finish_attempts(&results, POLICY, now_epoch(), now_millis())
        .await
        .unwrap();
    let after = due_index_reads(&mut watcher).await;
    let account = herald::domain::AccountId::parse("wdc").unwrap();
    for id in &ids[200..] {
        let (delivery, _) = app
            .store
            .get_delivery(&account, *id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            delivery.status,
            herald::domain::delivery::DeliveryStatus::Succeeded
        );
    }
    assert_eq!(
        (after.0 - before.0, after.1 - loaded.1),
        (0, 0),
        "(entries of the due index read, sequential scans of deliveries by the bookkeeping)"
    );
}

/// Entries read from the index of due deliveries so far, and sequential
/// scans of `deliveries`, once every other connection of the app has sent
/// its counts ([`end_the_apps_connections`]).
async fn due_index_reads(watcher: &mut sqlx::PgConnection) -> (i64, i64) {
    end_the_apps_connections(watcher).await;
    sqlx::query_as(
        "SELECT i.idx_tup_read, t.seq_scan FROM pg_stat_user_indexes i \
         JOIN pg_stat_user_tables t ON t.relid = i.relid \
         WHERE i.schemaname = current_schema() AND i.indexrelname = 'deliveries_due'",
    )
    .fetch_one(watcher)
    .await
    .unwrap()
}

/// Sequential scans of `webhooks` and `idempotency_keys` so far, and the
/// rows read from each (by scans and through indexes), once every other
/// connection of the app has sent its counts.
async fn reads_so_far(watcher: &mut sqlx::PgConnection) -> Vec<(String, i64, i64)> {
    end_the_apps_connections(watcher).await;
    let reads: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan, seq_tup_read + COALESCE(idx_tup_fetch, 0) \
         FROM pg_stat_user_tables WHERE schemaname = current_schema() \
         AND relname IN ('webhooks', 'idempotency_keys') ORDER BY relname",
    )
    .fetch_all(watcher)
    .await
    .unwrap();
    assert_eq!(reads.len(), 2, "statistics of both tables");
    reads
}

/// Ends every other connection of the app, so that each has sent its
/// counts to the server's statistics: a server process sends them as it
/// ends, before it leaves the activity view (the app's connections carry
/// its schema as their application name). The app may open new ones
/// meanwhile (its pools, the token cache's reads): those did none of the
/// work counted, so only the ones ended are waited for.
async fn end_the_apps_connections(watcher: &mut sqlx::PgConnection) {
    use std::time::Duration;
    const MINE: &str = "application_name = current_setting('application_name') \
         AND pid <> pg_backend_pid()";
    let ended: Vec<(i32,)> = sqlx::query_as(&format!(
        "WITH mine AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE {MINE}) \
         SELECT pid FROM mine WHERE pg_terminate_backend(pid)"
    ))
    .fetch_all(&mut *watcher)
    .await
    .unwrap();
    let ended: Vec<i32> = ended.into_iter().map(|(pid,)| pid).collect();
    let mut left: i64 = 1;
    for _ in 0..500 {
        (left,) = sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
            .bind(&ended)
            .fetch_one(&mut *watcher)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "the app's connections did not end within 10 s");
}

/// The ids of the deliveries `outcome` stored leased.
fn leased_ids(outcome: &herald::domain::delivery::PublishOutcome) -> Vec<i64> {
    outcome.leased.iter().map(|l| l.id).collect()
}

/// The deliveries `outcome` stored leased, as the publish hands them to the
/// holder of `lease`, after checking that is exactly what the holder would
/// read back from the database: every field, the event's payload text and
/// links, the webhook and its policy.
async fn leased_deliveries(
    app: &TestApp,
    lease: &herald::domain::delivery::Lease,
    outcome: &herald::domain::delivery::PublishOutcome,
) -> Vec<herald::domain::delivery::Claimed> {
    let mut handed = app
        .store
        .with_webhooks(&lease.owner, outcome.leased.clone())
        .await
        .unwrap();
    let mut stored = app
        .store
        .load_claimed(&lease.owner, &leased_ids(outcome))
        .await
        .unwrap();
    handed.sort_by_key(|d| d.id);
    stored.sort_by_key(|d| d.id);
    assert_eq!(format!("{handed:#?}"), format!("{stored:#?}"));
    handed
}

/// What a publish hands its own worker (no read of the rows it wrote) is
/// what the database holds: events with a person, links, an idempotency key
/// and payloads with escapes and non-ASCII text, for a webhook with a
/// signing policy and one without.
async fn a_publish_hands_its_worker_the_deliveries_as_stored(app: TestApp) {
    use herald::domain::event::{Links, NewEvent};
    use herald::domain::time::{now_epoch, now_millis};
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let policy =
        crate::api::policies::create_policy(&app, &admin, json!({ "jwt_alg": "hs256" })).await;
    app.create_webhook(
        &admin,
        json!({ "event": "request.create", "uri": "https://example.com/", "webhook_policy_id": policy["id"] }),
    )
    .await;
    app.webhook(&admin, "request.create").await;
    let event = |object_id: i64, key: Option<&str>| NewEvent {
        event: herald::domain::EventName::parse("request.create").unwrap(),
        object_id,
        person_id: Some(7),
        person_name: Some("Zoë \"Q\" Ångström\n".into()),
        payload: json!({ "title": "ünïcødé \u{1F600} \"quoted\" \\ back", "n": 1.5e3, "nested": { "a": [1, null, true] } }),
        links: Links {
            canonical: Some(format!("https://itsm.example/requests/{object_id}")),
            resource: None,
            related: Some("https://itsm.example/a?b=c&d=é".into()),
        },
        idempotency_key: key.map(str::to_string),
        webhook_id: None,
    };
    let request = herald::store::PublishRequest {
        account: herald::domain::AccountId::parse("wdc").unwrap(),
        events: vec![event(1, None), event(2, Some("k-2")), event(3, None)],
    };
    let lease = lease(10, Vec::new());
    let outcome = app
        .store
        .publish(
            &[request],
            24 * 3600,
            now_epoch(),
            now_millis(),
            Some(&lease),
        )
        .await
        .unwrap();
    assert_eq!((outcome.leased.len(), outcome.queued), (6, 0));
    let leased = leased_deliveries(&app, &lease, &outcome).await;
    assert_eq!(leased.iter().filter(|d| d.policy.is_some()).count(), 3);
    assert!(
        leased
            .iter()
            .all(|d| d.event.links.related.is_some() && d.attempts == 0)
    );
    // The deliveries of one event share it.
    let first = &leased[0];
    let same_event = leased
        .iter()
        .filter(|d| std::sync::Arc::ptr_eq(&d.event, &first.event));
    assert_eq!(same_event.count(), 2);
}

/// What a claim of another worker (`worker-b`) finds due now, up to 10.
async fn claim_as_another_worker(app: &TestApp) -> Vec<herald::domain::delivery::Claimed> {
    use herald::domain::time::now_millis;
    let now = now_millis();
    app.store
        .claim_due("worker-b:1", now, now + 60_000, 10, &[])
        .await
        .unwrap()
}

/// The webhook of each delivery, sorted.
fn webhooks_of(deliveries: &[herald::domain::delivery::Claimed]) -> Vec<i64> {
    let mut ids: Vec<i64> = deliveries
        .iter()
        .map(|d| d.webhook.as_ref().unwrap().id)
        .collect();
    ids.sort_unstable();
    ids
}

/// A large publish takes several statements: on SQLite the deliveries are
/// inserted 1,000 events a statement, and on both databases events go
/// 16 MiB of rows a statement (here about 24 MiB, so two). The lease's
/// limit holds across them, and the events keep their order.
async fn a_lease_carries_over_the_statements_of_a_large_publish(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    app.webhook(&admin, "request.create").await;
    let lease = lease(1_100, Vec::new());
    let outcome = publish_padded_events(&app, 1_200, 20_000, &lease).await;
    assert!(outcome.answers[0].iter().all(|p| p.deliveries == 1));
    assert_eq!((outcome.leased.len(), outcome.queued), (1_100, 100));
    let leased = leased_deliveries(&app, &lease, &outcome).await;
    assert_eq!(leased.len(), 1_100);
    // The first events' deliveries are the ones leased, and each answer
    // names its own event (object ids are the events' positions, from 1).
    let mut events: Vec<i64> = leased.iter().map(|d| d.event.object_id).collect();
    events.sort_unstable();
    assert_eq!(events, (1..=1_100).collect::<Vec<i64>>());
    for delivery in &leased {
        let answer = &outcome.answers[0][delivery.event.object_id as usize - 1];
        assert_eq!(
            answer.id, delivery.event.id,
            "object {}",
            delivery.event.object_id
        );
    }
}
