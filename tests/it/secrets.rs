//! Secrets at rest and in logs, as an operator's machine shows them: the
//! database files are their owner's alone, and no verification code
//! reaches a log line at any level.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::json;

use crate::support::child;
use crate::support::receiver::Receiver;

#[tokio::test]
async fn no_verification_code_is_logged_and_the_database_is_its_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    let token = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "token",
            "create",
            "--account",
            "wdc",
            "--role",
            "administrator",
        ])
        .args(["--database", &database])
        .env_remove("HERALD_CONFIG")
        .output()
        .unwrap();
    assert!(token.status.success(), "{token:?}");
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let herald = child::start_plain(&database, dir.path(), &["--allow-private-targets"]);
    let receiver = Receiver::ok().await;

    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let created = client
        .post(herald.url("/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({ "event": "task.update", "uri": receiver.url("/") }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let message = receiver.wait_for(1).await.remove(0);
    let callback = message.body["payload"]["callback"].as_str().unwrap();
    let path = &callback[callback.find("/v1/").unwrap()..];
    let code = path
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let wrong = path.replace(code, "AAAAAAAAAAAAAAAAAAAAAAAA");
    let answered = client.get(herald.url(&wrong)).send().await.unwrap();
    assert_eq!(answered.status(), 404);
    let answered = client.post(herald.url(path)).send().await.unwrap();
    assert_eq!(answered.status(), 200);

    let log = herald.log();
    assert!(
        log.contains("/verify"),
        "the callback's requests were not logged:\n{log}"
    );
    assert!(!log.contains(code), "the code was logged:\n{log}");
    assert!(
        !log.contains("AAAAAAAAAAAAAAAAAAAAAAAA"),
        "a tried code was logged"
    );

    for name in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
}
