//! OpenID Connect discovery of a policy's keys: the documents, the `kid`
//! and `iss` of its messages, and a receiver that finds the keys from the
//! issuer alone (PyJWT's `PyJWKClient`, sharing no code with Herald).

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::live::{Live, example_receivers};
use crate::api::policies::create_policy;
use crate::on_databases;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, TestResponse, delivery_settings};

on_databases!(
    discovery_documents_serve_the_policy_public_keys,
    only_discovery_policies_of_the_account_are_found,
    messages_name_their_key_and_the_policy_as_issuer,
    a_receiver_verifies_by_discovery_from_the_issuer_alone,
);

/// A GET without a token.
pub async fn public_get(app: &TestApp, path: &str) -> TestResponse {
    app.send(Method::GET, path, None, &[], None).await
}

pub fn jwt_header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub fn jwt_claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The key ids of a policy's JWKS, current first.
pub async fn jwks_kids(app: &TestApp, account: &str, id: i64) -> Vec<String> {
    let answer = public_get(app, &format!("/{account}/webhook_policies/{id}/jwks.json")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn discovery_documents_serve_the_policy_public_keys(app: TestApp) {
    let token = app.admin("wdc").await;
    for (alg, kty, crv) in [
        ("rs256", "RSA", None),
        ("es256", "EC", Some("P-256")),
        ("es512", "EC", Some("P-521")),
    ] {
        let policy = create_policy(
            &app,
            &token,
            json!({ "jwt_alg": alg, "openid_connect_discovery": true }),
        )
        .await;
        assert_eq!(policy["openid_connect_discovery"], true);
        let id = policy["id"].as_i64().unwrap();
        let issuer = format!("http://herald.test/wdc/webhook_policies/{id}");
        let path = format!("/wdc/webhook_policies/{id}/.well-known/openid-configuration");
        let document = public_get(&app, &path).await;
        assert_eq!(document.status, StatusCode::OK, "{}", document.body);
        assert_eq!(document.header("cache-control"), "public, max-age=3600");
        assert!(
            document
                .header("content-type")
                .starts_with("application/json")
        );
        assert_eq!(document.body["issuer"], issuer);
        assert_eq!(document.body["jwks_uri"], format!("{issuer}/jwks.json"));
        assert_eq!(
            document.body["id_token_signing_alg_values_supported"],
            json!([alg.to_uppercase()])
        );
        let jwks = public_get(&app, &format!("/wdc/webhook_policies/{id}/jwks.json")).await;
        assert_eq!(jwks.status, StatusCode::OK);
        assert_eq!(jwks.header("cache-control"), "public, max-age=3600");
        let keys = jwks.body["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{}", jwks.body);
        let key = &keys[0];
        assert_eq!(key["kty"], kty);
        assert_eq!(key.get("crv").and_then(Value::as_str), crv);
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], alg.to_uppercase());
        assert_eq!(key["kid"], policy["key_id"], "the kid shown at creation");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "{private} must not be published"
            );
        }
    }
}

async fn only_discovery_policies_of_the_account_are_found(app: TestApp) {
    let token = app.admin("wdc").await;
    let other = app.admin("other").await;
    let plain = create_policy(&app, &token, json!({ "jwt_alg": "es256" })).await;
    let theirs = create_policy(
        &app,
        &other,
        json!({ "jwt_alg": "es256", "openid_connect_discovery": true }),
    )
    .await;
    let ours = create_policy(
        &app,
        &token,
        json!({ "jwt_alg": "es256", "openid_connect_discovery": true }),
    )
    .await;
    let (plain, theirs, ours) = (&plain["id"], &theirs["id"], &ours["id"]);
    for path in [
        format!("/wdc/webhook_policies/{plain}/jwks.json"),
        format!("/wdc/webhook_policies/{theirs}/jwks.json"),
        format!("/wdc/webhook_policies/{theirs}/.well-known/openid-configuration"),
        format!("/nobody/webhook_policies/{ours}/jwks.json"),
        format!("/WDC/webhook_policies/{ours}/jwks.json"),
        "/wdc/webhook_policies/x/jwks.json".to_string(),
        "/wdc/webhook_policies/999999/.well-known/openid-configuration".to_string(),
    ] {
        let answer = public_get(&app, &path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.body, json!({ "message": "Not Found" }), "{path}");
    }
    // Switching discovery off hides the keys at once.
    let path = format!("/v1/webhook_policies/{ours}");
    let changed = app
        .patch(&path, &token, json!({ "openid_connect_discovery": false }))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let answer = public_get(&app, &format!("/wdc/webhook_policies/{ours}/jwks.json")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    // Discovery publishes public keys: an hs* or Standard Webhooks policy has none.
    for body in [
        json!({ "jwt_alg": "hs256", "openid_connect_discovery": true }),
        json!({ "signature_scheme": "standard_webhooks", "openid_connect_discovery": true }),
    ] {
        let refused = app.post("/v1/webhook_policies", &token, body).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.error_fields(), ["openid_connect_discovery"]);
    }
    let hs = create_policy(&app, &token, json!({ "jwt_alg": "hs256" })).await;
    let refused = app
        .patch(
            &format!("/v1/webhook_policies/{}", hs["id"]),
            &token,
            json!({ "openid_connect_discovery": true }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn messages_name_their_key_and_the_policy_as_issuer(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let token = app.admin("wdc").await;
    let receiver = Receiver::ok().await;
    let discovering = create_policy(
        &app,
        &token,
        json!({ "jwt_alg": "es384", "openid_connect_discovery": true }),
    )
    .await;
    let plain = create_policy(&app, &token, json!({ "jwt_alg": "es384" })).await;
    for policy in [&discovering, &plain] {
        app.create_webhook(
            &token,
            json!({ "event": "task.update", "uri": receiver.url("/"),
                    "webhook_policy_id": policy["id"] }),
        )
        .await;
    }
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let received = receiver.wait_for(2).await;
    let mut seen = Vec::new();
    for message in received {
        let token = message.body["jwt"].as_str().unwrap();
        let (header, claims) = (jwt_header(token), jwt_claims(token));
        seen.push((header.get("kid").cloned(), claims["iss"].clone()));
    }
    seen.sort_by_key(|(kid, _)| kid.is_none());
    let issuer = format!(
        "http://herald.test/wdc/webhook_policies/{}",
        discovering["id"]
    );
    assert_eq!(
        seen,
        [
            (Some(discovering["key_id"].clone()), json!(issuer)),
            (None, json!(app.config.account_url("wdc"))),
        ]
    );
}

async fn a_receiver_verifies_by_discovery_from_the_issuer_alone(backend: Backend) {
    let Some(app) = TestApp::start(backend, delivery_settings()).await else {
        return;
    };
    let live = Live::start(&app).await;
    let token = app.admin("wdc").await;
    for alg in ["rs256", "es256", "es512"] {
        let policy = create_policy(
            &app,
            &token,
            json!({ "jwt_alg": alg, "openid_connect_discovery": true,
                    "jwt_audience": "https://receiver.test" }),
        )
        .await;
        let issuer = live.issuer("wdc", policy["id"].as_i64().unwrap());
        let env = [
            ("HERALD_ISSUER", issuer.as_str()),
            ("HERALD_AUDIENCE", "https://receiver.test"),
        ];
        let mut receivers = example_receivers("jws_discovery", &env).await;
        let mut hooks = Vec::new();
        for receiver in &receivers {
            let hook = live
                .hook(&token, "request.note-added", &receiver.url(), &policy["id"])
                .await;
            hooks.push(hook);
        }
        live.publish(
            &token,
            json!({ "event": "request.note-added", "object_id": 219,
                    "payload": { "note_id": 3455 } }),
        )
        .await;
        for (receiver, hook) in receivers.iter_mut().zip(&hooks) {
            let printed = receiver.next().await;
            let script = &receiver.script;
            assert_eq!(printed["verified"], true, "{script} {alg}: {printed}");
            assert_eq!(printed["data"]["webhook_id"], hook["id"], "{script}");
            assert_eq!(printed["data"]["payload"], json!({ "note_id": 3455 }));
            app.delete(&format!("/v1/webhooks/{}", hook["id"]), &token)
                .await;
        }
    }
}
