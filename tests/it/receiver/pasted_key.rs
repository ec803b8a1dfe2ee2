//! JWS policies whose key the receiver was handed (no discovery): the
//! example receivers verify with the `public_key_pem` or `jwt_secret` the
//! policy showed once, PyJWT in Python and jose in Node.

use serde_json::json;

use super::live::{Live, example_receivers};
use crate::api::policies::create_policy;
use crate::on_databases;
use crate::support::{Backend, TestApp, delivery_settings};

on_databases!(example_receivers_verify_with_the_key_they_were_given);

async fn example_receivers_verify_with_the_key_they_were_given(backend: Backend) {
    let Some(app) = TestApp::start(backend, delivery_settings()).await else {
        return;
    };
    let live = Live::start(&app).await;
    let token = app.admin("wdc").await;
    let issuer = app.config.account_url("wdc");
    let dir = tempfile::tempdir().unwrap();
    for alg in ["rs256", "es384", "hs256"] {
        let policy = create_policy(&app, &token, json!({ "jwt_alg": alg })).await;
        let key = policy["public_key_pem"]
            .as_str()
            .or(policy["jwt_secret"].as_str())
            .unwrap();
        let key_file = dir.path().join(alg);
        std::fs::write(&key_file, key).unwrap();
        let jws_name = alg.to_uppercase();
        let env = [
            ("HERALD_ALG", jws_name.as_str()),
            ("HERALD_KEY_FILE", key_file.to_str().unwrap()),
            ("HERALD_ISSUER", issuer.as_str()),
        ];
        let mut receivers = example_receivers("jws_key", &env).await;
        for receiver in &receivers {
            live.hook(&token, "problem.update", &receiver.url(), &policy["id"])
                .await;
        }
        live.publish(
            &token,
            json!({ "event": "problem.update", "object_id": 84 }),
        )
        .await;
        for receiver in &mut receivers {
            let printed = receiver.next().await;
            let script = &receiver.script;
            assert_eq!(printed["verified"], true, "{script} {alg}: {printed}");
            assert_eq!(printed["data"]["object_id"], 84, "{script}");
        }
        // The next policy has receivers of its own: these webhooks go.
        let hooks = app.get("/v1/webhooks?per_page=100", &token).await;
        for hook in hooks.body.as_array().unwrap() {
            app.delete(&format!("/v1/webhooks/{}", hook["id"]), &token)
                .await;
        }
    }
}
