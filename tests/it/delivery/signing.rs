//! Signed messages (§5), checked by verifiers that share no code with the
//! signer: jsonwebtoken's decoder, a Python script using `cryptography`,
//! and the `herald verify` command.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::api::policies::create_policy;
use crate::on_databases;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp, delivery_settings};

on_databases!(
    every_algorithm_signs_messages_a_receiver_can_verify,
    each_attempt_gets_a_fresh_jti,
    tests_and_verification_messages_are_signed_too,
);

const ALGS: [&str; 9] = [
    "hs256", "hs384", "hs512", "rs256", "rs384", "rs512", "es256", "es384", "es512",
];

fn token_of(body: &Value) -> String {
    body["jwt"].as_str().expect("a signed body").to_string()
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// jsonwebtoken's decoder, with only what the 201 answer gave.
fn decode_with_jsonwebtoken(
    alg: &str,
    key: &str,
    token: &str,
    audience: Option<&str>,
) -> Result<Value, String> {
    let (algorithm, decoding) = match alg {
        "hs256" => (
            Algorithm::HS256,
            DecodingKey::from_secret(key.as_bytes()).unwrap(),
        ),
        "hs384" => (
            Algorithm::HS384,
            DecodingKey::from_secret(key.as_bytes()).unwrap(),
        ),
        "hs512" => (
            Algorithm::HS512,
            DecodingKey::from_secret(key.as_bytes()).unwrap(),
        ),
        "rs256" => (
            Algorithm::RS256,
            DecodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
        ),
        "rs384" => (
            Algorithm::RS384,
            DecodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
        ),
        "rs512" => (
            Algorithm::RS512,
            DecodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
        ),
        "es256" => (
            Algorithm::ES256,
            DecodingKey::from_ec_pem(key.as_bytes()).unwrap(),
        ),
        "es384" => (
            Algorithm::ES384,
            DecodingKey::from_ec_pem(key.as_bytes()).unwrap(),
        ),
        other => return Err(format!("jsonwebtoken has no {other}")),
    };
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// The Python verifier, when python3 with `cryptography` is here (always under CI).
fn decode_with_python(alg: &str, key: &str, token: &str) -> Option<Result<Value, String>> {
    let available = Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have python3 with cryptography"
        );
        eprintln!("skipping the Python verifier: no python3 with cryptography");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key");
    std::fs::write(&key_path, key).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receivers/verify_jws.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(alg)
        .arg(&key_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Some(if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).to_string())
    })
}

/// `herald verify`, as a receiver's operator would run it.
fn herald_verify(key_arg: &str, key: &str, body: &str, extra: &[&str]) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, key).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("verify")
        .arg(key_arg)
        .arg(&key_path)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        assert_eq!(output.status.code(), Some(1));
        Err(String::from_utf8_lossy(&output.stderr).to_string())
    }
}

fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_of(token);
    claims["data"]["object_id"] = json!(666);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

async fn every_algorithm_signs_messages_a_receiver_can_verify(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let unsigned = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": receiver.url("/plain") }),
        )
        .await;
    let mut hooks = Vec::new();
    for alg in ALGS.iter().chain(["none"].iter()) {
        let policy = create_policy(
            &app,
            &token,
            json!({ "jwt_alg": alg, "jwt_audience": "receivers", "jwt_claim_expires_in": 5 }),
        )
        .await;
        let key = policy["public_key_pem"]
            .as_str()
            .or(policy["jwt_secret"].as_str())
            .unwrap_or_default()
            .to_string();
        let hook = app
            .create_webhook(&token, json!({ "event": "task.update", "uri": receiver.url(&format!("/{alg}")), "webhook_policy_id": policy["id"] }))
            .await;
        hooks.push((alg.to_string(), key, hook));
    }
    app.publish(
        &token,
        json!({ "event": "task.update", "object_id": 219, "payload": { "n": 1 } }),
    )
    .await;
    let received = receiver.wait_for(ALGS.len() + 2).await;
    let plain = received.iter().find(|r| r.path == "/plain").unwrap();
    assert_eq!(
        plain.body["webhook_id"], unsigned["id"],
        "webhooks without a policy stay unsigned"
    );

    for (alg, key, hook) in hooks {
        let message = received
            .iter()
            .find(|r| r.path == format!("/{alg}"))
            .unwrap();
        assert_eq!(
            message.body.as_object().unwrap().len(),
            1,
            "{alg}: the body is {{\"jwt\": ...}}"
        );
        let jwt = token_of(&message.body);
        let header = header_of(&jwt);
        assert_eq!(
            header,
            json!({ "typ": "JWT", "alg": if alg == "none" { "none".to_string() } else { alg.to_uppercase() } })
        );
        let claims = claims_of(&jwt);
        assert_eq!(claims["data"]["webhook_id"], hook["id"], "{alg}");
        assert_eq!(claims["data"]["object_id"], 219);
        assert_eq!(claims["data"]["payload"], json!({ "n": 1 }));
        assert_eq!(claims["sub"], hook["id"].to_string());
        assert_eq!(claims["iss"], "https://wdc.example.com");
        assert_eq!(claims["aud"], "receivers");
        assert_eq!(claims["iat"], claims["nbf"]);
        assert_eq!(
            claims["exp"].as_i64().unwrap(),
            claims["iat"].as_i64().unwrap() + 300
        );
        let jti = claims["jti"].as_str().unwrap();
        assert!(
            jti.len() == 64 && jti.chars().all(|c| c.is_ascii_hexdigit()),
            "{jti}"
        );
        if alg == "none" {
            assert!(jwt.ends_with('.'), "an unsigned JWT has an empty signature");
            continue;
        }

        if alg != "es512" {
            assert_eq!(
                decode_with_jsonwebtoken(&alg, &key, &jwt, Some("receivers")).unwrap(),
                claims,
                "{alg}"
            );
            assert!(
                decode_with_jsonwebtoken(&alg, &key, &tamper(&jwt), Some("receivers")).is_err(),
                "{alg} tampered"
            );
            assert!(
                decode_with_jsonwebtoken(&alg, &key, &jwt, Some("someone-else")).is_err(),
                "{alg} audience"
            );
        }
        if let Some(outcome) = decode_with_python(&alg, &key, &jwt) {
            assert_eq!(outcome.unwrap(), claims, "{alg} (python)");
            assert!(
                decode_with_python(&alg, &key, &tamper(&jwt))
                    .unwrap()
                    .is_err(),
                "{alg} tampered (python)"
            );
        }
        let key_arg = if alg.starts_with("hs") {
            "--secret-file"
        } else {
            "--public-key"
        };
        let body = message.body.to_string();
        let data = herald_verify(
            key_arg,
            &key,
            &body,
            &[
                "--audience",
                "receivers",
                "--issuer",
                "https://wdc.example.com",
            ],
        );
        assert_eq!(data.unwrap(), claims["data"], "{alg} (herald verify)");
        let tampered = json!({ "jwt": tamper(&jwt) }).to_string();
        assert!(
            herald_verify(key_arg, &key, &tampered, &[])
                .unwrap_err()
                .contains("bad signature")
        );
        assert!(
            herald_verify(key_arg, &key, &body, &["--audience", "x"])
                .unwrap_err()
                .contains("audience")
        );
    }

    // A key of another policy does not verify.
    let other = create_policy(&app, &token, json!({ "jwt_alg": "rs256" })).await;
    let rs = received.iter().find(|r| r.path == "/rs256").unwrap();
    let wrong_key = other["public_key_pem"].as_str().unwrap();
    assert!(decode_with_jsonwebtoken("rs256", wrong_key, &token_of(&rs.body), None).is_err());
    assert!(herald_verify("--public-key", wrong_key, &rs.body.to_string(), &[]).is_err());
}

async fn each_attempt_gets_a_fresh_jti(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let receiver = Receiver::scripted(|n| {
        if n == 0 {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let policy = create_policy(&app, &token, json!({ "jwt_alg": "es256" })).await;
    app.create_webhook(&token, json!({ "event": "task.update", "uri": receiver.url("/"), "webhook_policy_id": policy["id"] }))
        .await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let received = receiver.wait_for(2).await;
    assert_eq!(
        received[0].header("x-r-service-delivery"),
        received[1].header("x-r-service-delivery")
    );
    let jtis: Vec<Value> = received
        .iter()
        .map(|r| claims_of(&token_of(&r.body))["jti"].clone())
        .collect();
    assert_ne!(jtis[0], jtis[1]);
    let claims = claims_of(&token_of(&received[0].body));
    assert!(
        claims.get("aud").is_none() && claims.get("exp").is_none(),
        "only when the policy sets them: {claims}"
    );
}

async fn tests_and_verification_messages_are_signed_too(backend: Backend) {
    let mut settings = delivery_settings();
    settings.require_verification = Some(true);
    let Some(app) = TestApp::running(backend, settings).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let policy = create_policy(&app, &token, json!({ "jwt_alg": "hs256" })).await;
    let secret = policy["jwt_secret"].as_str().unwrap();
    let hook = app
        .create_webhook(&token, json!({ "event": "task.update", "uri": receiver.url("/"), "webhook_policy_id": policy["id"] }))
        .await;
    let verify = receiver.wait_for(1).await.remove(0);
    let claims = decode_with_jsonwebtoken("hs256", secret, &token_of(&verify.body), None).unwrap();
    assert_eq!(claims["data"]["event"], "webhook.verify");
    app.post(
        &format!("/v1/webhooks/{}/test", hook["id"]),
        &token,
        json!({}),
    )
    .await;
    let test = receiver.wait_for(2).await.remove(1);
    let claims = decode_with_jsonwebtoken("hs256", secret, &token_of(&test.body), None).unwrap();
    assert_eq!(claims["data"]["object_id"], 12345);
}

/// Keys and secrets never reach the log, even at `trace`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_holds_a_key_or_secret() {
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
    let herald = crate::support::child::start(&database, dir.path());
    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut secrets = Vec::new();
    for alg in ["hs256", "rs256", "es256"] {
        let policy: Value = client
            .post(herald.url("/v1/webhook_policies"))
            .bearer_auth(&token)
            .json(&json!({ "jwt_alg": alg }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(secret) = policy["jwt_secret"].as_str() {
            secrets.push(secret.to_string());
        }
        let hook = client
            .post(herald.url("/v1/webhooks"))
            .bearer_auth(&token)
            .json(&json!({ "event": "task.update", "uri": receiver.url("/"), "webhook_policy_id": policy["id"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(hook.status(), 200);
    }
    client
        .post(herald.url("/v1/events"))
        .bearer_auth(&token)
        .json(&json!({ "event": "task.update", "object_id": 1 }))
        .send()
        .await
        .unwrap();
    receiver.wait_for(3).await;
    let log = herald.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is verbose"
    );
    assert!(!log.contains("PRIVATE KEY"));
    let server_key = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    for secret in secrets
        .iter()
        .chain([&token, &server_key.trim().to_string()])
    {
        assert!(!log.contains(secret.as_str()), "a secret was logged");
    }
}
