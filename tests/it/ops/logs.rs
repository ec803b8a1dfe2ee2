//! The log as an operator reads it: JSON lines that parse one by one and
//! carry the request id, one `warn` per failed attempt and nothing per
//! success, the level and filter as set, and no secret at any level.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::child;
use crate::support::receiver::{Receiver, Reply};

fn token(database: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "token",
            "create",
            "--account",
            "wdc",
            "--role",
            "administrator",
        ])
        .args(["--database", database])
        .env_remove("HERALD_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Each line of a JSON log, parsed; panics on a line that is not an object
/// with the fields every line has.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            for key in ["timestamp", "level", "target", "message"] {
                assert!(value[key].is_string(), "no {key} in {line}");
            }
            assert!(value["fields"].is_object(), "no fields in {line}");
            value
        })
        .collect()
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_one_warning_per_failed_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    let token = token(&database);
    let flags = [
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--allow-private-targets",
        "--require-verification",
        "false",
        "--retry-schedule",
        "100ms",
        "--max-attempts",
        "2",
    ];
    let herald = child::start_logging(&database, dir.path(), &flags, None);
    let failing = Receiver::scripted(|_| Reply::status(503)).await;
    let ok = Receiver::ok().await;
    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut hooks = Vec::new();
    for receiver in [&failing, &ok] {
        let hook: Value = client
            .post(herald.url("/v1/webhooks"))
            .bearer_auth(&token)
            .header("x-request-id", "make-hook.1")
            .json(&json!({ "event": "task.update", "uri": receiver.url("/") }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        hooks.push(hook["id"].as_i64().unwrap());
    }
    let published = client
        .post(herald.url("/v1/events"))
        .bearer_auth(&token)
        .json(&json!({ "event": "task.update", "object_id": 1 }))
        .send()
        .await
        .unwrap();
    let generated = published.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 36, "not a UUID: {generated}");
    failing.wait_for(2).await;
    ok.wait_for(1).await;

    let lines = crate::support::eventually("the second failure's log line", || async {
        let lines = json_lines(&herald.log());
        let failures = lines
            .iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("delivery attempt failed")
            })
            .count();
        (failures == 2).then_some(lines)
    })
    .await;
    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .unwrap()
                .starts_with("delivery attempt failed")
        })
        .collect();
    for line in &failures {
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["webhook_id"], hooks[0]);
        assert!(line["fields"]["delivery_id"].is_i64(), "{line}");
        assert_eq!(line["fields"]["error"], "503 Service Unavailable");
    }
    // Nothing at info or above names the webhook that succeeded.
    let about_success = lines.iter().filter(|l| {
        l["fields"]["webhook_id"] == hooks[1] && l["level"] != "DEBUG" && l["level"] != "TRACE"
    });
    assert_eq!(about_success.count(), 0);
    for id in ["make-hook.1", generated.as_str()] {
        assert!(
            lines.iter().any(|l| l["request_id"] == id),
            "no line carries the request id {id}"
        );
    }
}

#[tokio::test]
async fn herald_log_wins_over_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    let flags = ["--log-level", "trace", "--log-format", "json"];
    let herald = child::start_logging(&database, dir.path(), &flags, Some("info"));
    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let answer = client.get(herald.url("/healthz")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let lines = json_lines(&herald.log());
    assert!(lines.iter().any(|l| l["message"] == "herald listening"));
    assert!(
        lines
            .iter()
            .all(|l| l["level"] != "DEBUG" && l["level"] != "TRACE"),
        "HERALD_LOG=info let finer lines through"
    );
}

#[tokio::test]
async fn no_token_code_or_key_reaches_the_log_at_any_level() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    let token = token(&database);
    let secret_key = "c2VjcmV0IGtleSBvZiB0aGlydHktdHdvIGJ5dGVzISE=";
    let flags = [
        "--log-format",
        "json",
        "--allow-private-targets",
        "--secret-key",
        secret_key,
    ];
    let herald = child::start_logging(&database, dir.path(), &flags, Some("trace"));
    let receiver = Receiver::ok().await;
    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let policy: Value = client
        .post(herald.url("/v1/webhook_policies"))
        .bearer_auth(&token)
        .json(&json!({ "jwt_alg": "hs256" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt_secret = policy["jwt_secret"].as_str().unwrap().to_string();
    let created = client
        .post(herald.url("/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({
            "event": "task.update",
            "uri": receiver.url("/"),
            "webhook_policy_id": policy["id"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let message = receiver.wait_for(1).await.remove(0);
    let jwt = message.body["jwt"].as_str().unwrap();
    let claims = jwt.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    let callback = claims["data"]["payload"]["callback"].as_str().unwrap();
    let code = callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let path = &callback[callback.find("/v1/").unwrap()..];
    let verified = client.get(herald.url(path)).send().await.unwrap();
    assert_eq!(verified.status(), 200);

    let log = herald.log();
    json_lines(&log);
    for (what, secret) in [
        ("API token", token.as_str()),
        ("verification code", code),
        ("policy secret", jwt_secret.as_str()),
        ("server key", secret_key),
    ] {
        assert!(!log.contains(secret), "the {what} was logged");
    }
}

#[tokio::test]
async fn a_warning_while_answering_carries_the_request_id_when_only_warnings_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herald.db");
    let database = format!("sqlite://{}", path.display());
    // The API's own lines at `warn` and above, the listening line still
    // (the launcher waits for it).
    let filter = Some("warn,herald=info,herald::api=warn");
    let herald = child::start_logging(&database, dir.path(), &["--log-format", "json"], filter);
    herald::delivery::sender::install_crypto_provider();
    std::fs::remove_file(&path).unwrap();
    let answer = reqwest::Client::new()
        .get(herald.url("/readyz"))
        .header("x-request-id", "ready.1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let line = crate::support::eventually("the readiness warning", || async {
        json_lines(&herald.log())
            .into_iter()
            .find(|l| l["message"] == "not ready")
    })
    .await;
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["request_id"], "ready.1", "{line}");
}
