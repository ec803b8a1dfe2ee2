//! The `Store` contract, run against both backends.

use herald::domain::audit::Actor;
use herald::domain::list::ListQuery;
use herald::domain::target::WebhookUri;
use herald::domain::{AccountId, Attachment, EventName, NewWebhook, Role, WebhookChanges};
use herald::store::{NewToken, PersonSpec};

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    tokens_reuse_a_person_by_email_and_accumulate_roles,
    unknown_token_hashes_authenticate_no_one,
    webhooks_round_trip_every_field,
    updates_move_updated_at_only_on_change,
    lists_count_only_the_accounts_records,
    ensure_account_is_idempotent,
);

fn account(id: &str) -> AccountId {
    AccountId::parse(id).unwrap()
}

fn new_webhook() -> NewWebhook {
    NewWebhook {
        name: Some("Named".into()),
        event: EventName::parse("request.note-added").unwrap(),
        uri: WebhookUri::parse("https://example.com/hook?x=1").unwrap(),
        description: Some("why".into()),
        disabled: true,
        mail_exceptions_to: Some("a@example.com,b@example.com".into()),
        source: "tool".into(),
        source_id: Some("ext-1".into()),
        webhook_policy_id: None,
        attachments: vec![Attachment {
            key: "k".into(),
            filesize: Some(3),
            inline: None,
        }],
    }
}

fn cli() -> Actor {
    Actor::command_line()
}

async fn tokens_reuse_a_person_by_email_and_accumulate_roles(app: TestApp) {
    let store = &app.store;
    let wdc = account("wdc");
    store.ensure_account(&wdc, "WDC", 1).await.unwrap();
    let spec = |email: &str, role| {
        NewToken::plain(PersonSpec {
            name: Some("Howard".into()),
            email: Some(email.into()),
            role,
        })
    };
    let cli = cli();
    store
        .create_token(
            &wdc,
            &spec("h@example.com", Role::Administrator),
            "hash-a",
            &cli,
            1,
        )
        .await
        .unwrap();
    store
        .create_token(
            &wdc,
            &spec("H@Example.com", Role::Publisher),
            "hash-b",
            &cli,
            1,
        )
        .await
        .unwrap();
    let a = store
        .authenticate("hash-a", 2)
        .await
        .unwrap()
        .unwrap()
        .caller;
    let b = store
        .authenticate("hash-b", 2)
        .await
        .unwrap()
        .unwrap()
        .caller;
    assert_eq!(a.person_id, b.person_id);
    assert_eq!(a.role, Role::Administrator);
    assert_eq!(
        b.role,
        Role::Publisher,
        "a token acts with its own role, not all of its person's"
    );
    assert_eq!(a.account, wdc);
    assert_ne!(a.token_id, b.token_id);
    // Without an e-mail or name, every token gets a person of its own.
    let anon = NewToken::plain(PersonSpec {
        name: None,
        email: None,
        role: Role::Member,
    });
    store
        .create_token(&wdc, &anon, "hash-c", &cli, 1)
        .await
        .unwrap();
    let c = store
        .authenticate("hash-c", 2)
        .await
        .unwrap()
        .unwrap()
        .caller;
    assert_ne!(c.person_id, a.person_id);
    assert_eq!(c.role, Role::Member);
    // The same hash twice is refused (tokens are unique).
    assert!(
        store
            .create_token(&wdc, &anon, "hash-c", &cli, 1)
            .await
            .is_err()
    );
}

async fn unknown_token_hashes_authenticate_no_one(app: TestApp) {
    app.admin("wdc").await;
    assert!(
        app.store
            .authenticate("0".repeat(64).as_str(), 0)
            .await
            .unwrap()
            .is_none()
    );
}

async fn webhooks_round_trip_every_field(app: TestApp) {
    let wdc = account("wdc");
    app.store.ensure_account(&wdc, "wdc", 1).await.unwrap();
    let stored = app
        .store
        .insert_webhook(&wdc, new_webhook(), false, &cli(), 1000)
        .await
        .unwrap();
    let read = app
        .store
        .get_webhook(&wdc, stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, stored);
    assert_eq!(read.name, "Named");
    assert_eq!(read.uri, "https://example.com/hook?x=1");
    assert!(read.disabled && !read.verified);
    assert_eq!((read.created_at, read.updated_at), (1000, 1000));
    assert_eq!(read.attachments.len(), 1);
    assert!(
        app.store
            .get_webhook(&account("other"), stored.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn updates_move_updated_at_only_on_change(app: TestApp) {
    let wdc = account("wdc");
    app.store.ensure_account(&wdc, "wdc", 1).await.unwrap();
    let hook = app
        .store
        .insert_webhook(&wdc, new_webhook(), true, &cli(), 1000)
        .await
        .unwrap();
    let same = WebhookChanges {
        disabled: Some(true),
        name: Some(Some("Named".into())),
        ..Default::default()
    };
    let unchanged = app
        .store
        .update_webhook(&wdc, hook.id, &same, &cli(), 2000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.updated_at, 1000);
    let change = WebhookChanges {
        disabled: Some(false),
        ..Default::default()
    };
    let changed = app
        .store
        .update_webhook(&wdc, hook.id, &change, &cli(), 3000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((changed.updated_at, changed.disabled), (3000, false));
    assert_eq!(
        app.store.get_webhook(&wdc, hook.id).await.unwrap().unwrap(),
        changed
    );
    assert!(
        app.store
            .update_webhook(&account("other"), hook.id, &change, &cli(), 4000)
            .await
            .unwrap()
            .is_none()
    );
}

async fn lists_count_only_the_accounts_records(app: TestApp) {
    let (wdc, acme) = (account("wdc"), account("acme"));
    for acc in [&wdc, &acme] {
        app.store
            .ensure_account(acc, acc.as_str(), 1)
            .await
            .unwrap();
    }
    for _ in 0..3 {
        app.store
            .insert_webhook(&wdc, new_webhook(), true, &cli(), 1)
            .await
            .unwrap();
    }
    app.store
        .insert_webhook(&acme, new_webhook(), true, &cli(), 1)
        .await
        .unwrap();
    let query = ListQuery {
        per_page: 2,
        ..ListQuery::default()
    };
    let page = app.store.list_webhooks(&wdc, &query).await.unwrap();
    assert_eq!((page.items.len(), page.total), (2, 3));
    assert!(page.items.iter().all(|h| h.account == wdc));
    let deleted = app
        .store
        .delete_webhook(&acme, page.items[0].id, &cli(), 1)
        .await
        .unwrap();
    assert!(!deleted, "another account's record");
}

async fn ensure_account_is_idempotent(app: TestApp) {
    let wdc = account("wdc");
    app.store.ensure_account(&wdc, "first", 1).await.unwrap();
    app.store.ensure_account(&wdc, "second", 2).await.unwrap();
    app.store.ping().await.unwrap();
}
