//! Tokens with their own role, expiry and lifecycle: every route answers a
//! token with at most its own role; administrators list and revoke the
//! account's tokens, and a revoked, rotated or expired token is refused on
//! its next request.

use axum::http::{Method, StatusCode};
use herald::api::token_cache::wait_for_caches;
use herald::crypto::tokens::{generate_token, hash_token};
use herald::domain::Role;
use herald::domain::audit::Actor;
use herald::domain::time::{format_epoch, now_epoch};
use herald::store::{NewToken, PersonSpec, Successor};
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    every_route_answers_a_token_with_at_most_its_own_role,
    administrators_list_the_accounts_tokens_and_never_a_secret,
    a_revoked_token_is_refused_on_its_next_request_by_every_app_on_the_database,
    an_expired_token_is_refused,
    a_rotated_token_keeps_working_only_for_its_overlap,
    a_tokens_last_use_is_noted,
);

/// A token for Howard, of `role`, found by his e-mail: his person holds
/// every role any of his tokens was made with.
fn howards(role: Role) -> NewToken {
    NewToken::plain(PersonSpec {
        name: Some("Howard Tanner".into()),
        email: Some("howard@example.com".into()),
        role,
    })
}

/// Every route of the API, the least role it takes, and a body for it.
fn routes() -> Vec<(Method, &'static str, Role, Option<Value>)> {
    let hook = json!({ "event": "request.create", "uri": "https://example.com/h" });
    let policy = json!({ "jwt_alg": "hs256" });
    let event = json!({ "event": "request.create", "object_id": 1 });
    use Method as M;
    use Role::{Administrator as A, Member, Publisher};
    vec![
        (M::GET, "/v1", Member, None),
        (M::POST, "/v1/events", Publisher, Some(event)),
        (M::GET, "/v1/webhooks", A, None),
        (M::GET, "/v1/webhooks/enabled", A, None),
        (M::GET, "/v1/webhooks/disabled", A, None),
        (M::POST, "/v1/webhooks", A, Some(hook.clone())),
        (M::GET, "/v1/webhooks/999999", A, None),
        (M::PATCH, "/v1/webhooks/999999", A, Some(hook.clone())),
        (M::PUT, "/v1/webhooks/999999", A, Some(hook)),
        (M::DELETE, "/v1/webhooks/999999", A, None),
        (M::POST, "/v1/webhooks/999999/test", A, None),
        (M::GET, "/v1/webhooks/999999/deliveries", A, None),
        (
            M::POST,
            "/v1/webhooks/999999/recover",
            A,
            Some(json!({ "since": "2016-03-17" })),
        ),
        (M::GET, "/v1/webhook_deliveries/999999", A, None),
        (M::POST, "/v1/webhook_deliveries/999999/redeliver", A, None),
        (M::GET, "/v1/webhook_policies", A, None),
        (M::GET, "/v1/webhook_policies/enabled", A, None),
        (M::GET, "/v1/webhook_policies/disabled", A, None),
        (M::POST, "/v1/webhook_policies", A, Some(policy.clone())),
        (M::GET, "/v1/webhook_policies/999999", A, None),
        (
            M::PATCH,
            "/v1/webhook_policies/999999",
            A,
            Some(policy.clone()),
        ),
        (M::PUT, "/v1/webhook_policies/999999", A, Some(policy)),
        (M::DELETE, "/v1/webhook_policies/999999", A, None),
        (M::GET, "/v1/api_tokens", A, None),
        (M::GET, "/v1/api_tokens/999999", A, None),
        (M::DELETE, "/v1/api_tokens/999999", A, None),
        (M::GET, "/v1/audit_events", A, None),
        (M::GET, "/v1/audit_events/999999", A, None),
    ]
}

async fn every_route_answers_a_token_with_at_most_its_own_role(app: TestApp) {
    // One person, an administrator, with a token of each role.
    let mut tokens = Vec::new();
    for role in [Role::Administrator, Role::Publisher, Role::Member] {
        tokens.push((role, app.make_token("wdc", howards(role)).await.0));
    }
    for (method, path, least, body) in routes() {
        for (role, token) in &tokens {
            let body = body.as_ref().map(|b| b.to_string().into_bytes());
            let answer = app.send(method.clone(), path, Some(token), &[], body).await;
            if *role >= least {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status),
                    "a {role:?} token was refused {method} {path}: {} {}",
                    answer.status,
                    answer.body
                );
            } else {
                assert_eq!(
                    (answer.status, &answer.body),
                    (StatusCode::FORBIDDEN, &json!({ "message": "Forbidden" })),
                    "a {role:?} token on {method} {path}"
                );
            }
        }
    }
}

async fn administrators_list_the_accounts_tokens_and_never_a_secret(app: TestApp) {
    let (admin, admin_id) = app.make_token("wdc", howards(Role::Administrator)).await;
    let expires_at = now_epoch() + 90 * 86_400;
    let deploy = NewToken {
        description: Some("deploy script".into()),
        expires_at: Some(expires_at),
        ..howards(Role::Publisher)
    };
    let (deploy, deploy_id) = app.make_token("wdc", deploy).await;
    let (_, theirs) = app.make_token("acme", howards(Role::Administrator)).await;

    let listed = app.get("/v1/api_tokens", &admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.header("x-pagination-total-entries"), "2");
    let entries = listed.body.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", listed.body);
    assert_eq!(entries[0]["id"], admin_id);
    let shown = &entries[1];
    assert_eq!(shown["id"], deploy_id);
    assert_eq!(shown["person"]["name"], "Howard Tanner");
    assert_eq!(shown["person"]["id"], entries[0]["person"]["id"]);
    assert_eq!(shown["role"], "publisher");
    assert_eq!(shown["description"], "deploy script");
    assert_eq!(shown["expires_at"], format_epoch(expires_at));
    assert_eq!(shown["last_used_at"], Value::Null);
    assert!(shown["created_at"].is_string());
    let text = listed.body.to_string();
    for secret in [&admin, &deploy, &hash_token(&admin), &hash_token(&deploy)] {
        assert!(
            !text.contains(secret.as_str()),
            "a token or its hash is shown"
        );
    }

    let publishers = app.get("/v1/api_tokens?role=publisher", &admin).await;
    assert_eq!(publishers.body.as_array().unwrap().len(), 1);
    assert_eq!(publishers.body[0]["id"], deploy_id);
    let newest = app.get("/v1/api_tokens?sort=-id&fields=role", &admin).await;
    assert_eq!(
        newest.body,
        json!([{ "id": deploy_id, "role": "publisher" }, { "id": admin_id, "role": "administrator" }])
    );
    let bad = app.get("/v1/api_tokens?role=overlord", &admin).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

    let one = app
        .get(&format!("/v1/api_tokens/{deploy_id}"), &admin)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.body["nodeID"].is_string());
    assert_eq!(one.body["description"], "deploy script");
    let other = app.get(&format!("/v1/api_tokens/{theirs}"), &admin).await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another account's token"
    );
}

async fn a_revoked_token_is_refused_on_its_next_request_by_every_app_on_the_database(app: TestApp) {
    // A second app on the same database: another process, as far as the
    // token cache goes.
    let other = app.with_settings(|_| {});
    let (admin, admin_id) = app.make_token("wdc", howards(Role::Administrator)).await;
    let (deploy, deploy_id) = app.make_token("wdc", howards(Role::Publisher)).await;
    let (theirs, _) = app.make_token("acme", howards(Role::Administrator)).await;
    for serving in [&app, &other] {
        assert_eq!(serving.get("/v1", &deploy).await.status, StatusCode::OK);
    }

    let path = format!("/v1/api_tokens/{deploy_id}");
    assert_eq!(
        app.delete(&path, &theirs).await.status,
        StatusCode::NOT_FOUND,
        "another account's administrator"
    );
    assert_eq!(other.get("/v1", &deploy).await.status, StatusCode::OK);
    let revoked = app.delete(&path, &admin).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    for serving in [&app, &other] {
        let refused = serving.get("/v1", &deploy).await;
        assert_eq!(
            (refused.status, refused.body),
            (
                StatusCode::UNAUTHORIZED,
                json!({ "message": "Unauthorized" })
            )
        );
    }
    assert_eq!(app.get(&path, &admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = app.get("/v1/api_tokens", &admin).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);

    // An administrator may revoke the token it calls with.
    let own = other
        .delete(&format!("/v1/api_tokens/{admin_id}"), &admin)
        .await;
    assert_eq!(own.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1", &admin).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn an_expired_token_is_refused(app: TestApp) {
    let now = now_epoch();
    let token = |expires_at| NewToken {
        expires_at: Some(expires_at),
        ..howards(Role::Administrator)
    };
    let (expired, expired_id) = app.make_token("wdc", token(now - 1)).await;
    let (valid, _) = app.make_token("wdc", token(now + 3600)).await;
    let refused = app.get("/v1/webhooks", &expired).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert_eq!(app.get("/v1/webhooks", &valid).await.status, StatusCode::OK);
    // Expired tokens stay listed, for an administrator to see and revoke.
    let shown = app
        .get(&format!("/v1/api_tokens/{expired_id}"), &valid)
        .await;
    assert_eq!(shown.body["expires_at"], format_epoch(now - 1));
}

async fn a_rotated_token_keeps_working_only_for_its_overlap(app: TestApp) {
    let (admin, _) = app.make_token("wdc", howards(Role::Administrator)).await;
    let deploy = NewToken {
        description: Some("deploy script".into()),
        ..howards(Role::Publisher)
    };
    let (old, old_id) = app.make_token("wdc", deploy).await;
    assert_eq!(app.get("/v1", &old).await.status, StatusCode::OK);
    let command_line = Actor::command_line();
    let rotate = |id, overlap_secs, token: &str| {
        let successor = Successor {
            overlap_secs,
            expires_at: None,
        };
        let hash = hash_token(token);
        let store = app.store.clone();
        let actor = command_line.clone();
        async move {
            let rotated = store
                .rotate_token(id, &successor, &hash, &actor, now_epoch())
                .await
                .unwrap()
                .expect("an active token");
            wait_for_caches().await;
            rotated
        }
    };

    // With an overlap both work, the old one until the overlap ends.
    let overlapping = generate_token();
    let rotation = rotate(old_id, 3600, &overlapping).await;
    assert_eq!(app.get("/v1", &old).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1", &overlapping).await.status, StatusCode::OK);
    let old_shown = app.get(&format!("/v1/api_tokens/{old_id}"), &admin).await;
    let ends = old_shown.body["expires_at"].as_str().unwrap().to_string();
    assert!(ends > format_epoch(now_epoch()) && ends <= format_epoch(now_epoch() + 3600));
    let new_shown = app
        .get(&format!("/v1/api_tokens/{}", rotation.token_id), &admin)
        .await;
    assert_eq!(new_shown.body["role"], "publisher");
    assert_eq!(new_shown.body["description"], "deploy script");
    assert_eq!(new_shown.body["expires_at"], Value::Null);

    // Without one the old token is refused at once.
    let replaced = generate_token();
    rotate(rotation.token_id, 0, &replaced).await;
    assert_eq!(
        app.get("/v1", &overlapping).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/v1", &replaced).await.status, StatusCode::OK);
    let published = app
        .post(
            "/v1/events",
            &replaced,
            json!({ "event": "request.create", "object_id": 1 }),
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::ACCEPTED,
        "the role carried over"
    );
    let webhooks = app.get("/v1/webhooks", &replaced).await;
    assert_eq!(
        webhooks.status,
        StatusCode::FORBIDDEN,
        "and no more than it"
    );
    // A revoked token cannot be rotated back to life.
    let rotated_again = app
        .store
        .rotate_token(
            rotation.token_id,
            &Successor {
                overlap_secs: 0,
                expires_at: None,
            },
            "h",
            &command_line,
            now_epoch(),
        )
        .await
        .unwrap();
    assert_eq!(rotated_again, None);
}

async fn a_tokens_last_use_is_noted(app: TestApp) {
    let (admin, _) = app.make_token("wdc", howards(Role::Administrator)).await;
    let (deploy, deploy_id) = app.make_token("wdc", howards(Role::Publisher)).await;
    let path = format!("/v1/api_tokens/{deploy_id}");
    assert_eq!(
        app.get(&path, &admin).await.body["last_used_at"],
        Value::Null
    );
    let before = now_epoch();
    assert_eq!(app.get("/v1", &deploy).await.status, StatusCode::OK);
    let noted = crate::support::eventually("the token's last use", || async {
        let shown = app.get(&path, &admin).await.body;
        shown["last_used_at"].as_str().map(str::to_string)
    })
    .await;
    assert!(noted >= format_epoch(before), "{noted}");
}
