//! The `herald` binary: token creation, migrations, configuration errors,
//! and a real server on a random port.

use std::process::Command;

use herald::config::{Config, Settings};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn herald() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .env_remove("HERALD_DATABASE")
        .env_remove("HERALD_CONFIG");
    command
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("herald.db").display())
}

#[test]
fn token_create_prints_only_the_token_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let output = herald()
        .args([
            "token",
            "create",
            "--account",
            "wdc",
            "--role",
            "administrator",
            "--name",
            "Howard Tanner",
        ])
        .args(["--email", "howard@example.com", "--database", &url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.trim_end_matches('\n');
    assert!(
        !token.contains('\n') && token.starts_with("hrld_"),
        "{stdout:?}"
    );
    let file = std::fs::read(dir.path().join("herald.db")).unwrap();
    let wal = std::fs::read(dir.path().join("herald.db-wal")).unwrap_or_default();
    for bytes in [&file, &wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "plain token stored"
        );
    }
}

#[test]
fn token_create_refuses_bad_input_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    for (args, needle) in [
        (vec!["--account", "wdc", "--role", "overlord"], "role"),
        (vec!["--account", "Bad Id", "--role", "member"], "account"),
        (
            vec!["--account", "wdc", "--role", "member", "--email", "nope"],
            "e-mail",
        ),
    ] {
        let output = herald()
            .args(["token", "create", "--database", &url])
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn serve_refuses_bad_settings_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("herald.toml");
    std::fs::write(&config, "listen = \"not an address\"\n").unwrap();
    let output = herald()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("listen:"));
    let output = herald()
        .args(["serve", "--database", "mysql://x"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("database:"));
    let output = herald()
        .args(["serve", "--rate-limit", "lots"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = herald()
        .args(["migrate", "--database", &sqlite_url(&dir)])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("herald.db").exists());
}

/// The CLI's token works against a real server on a random port, and the
/// server stops when told to.
#[tokio::test]
async fn a_cli_token_works_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let output = herald()
        .args([
            "token",
            "create",
            "--account",
            "wdc",
            "--role",
            "administrator",
            "--database",
            &url,
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = Config::from_settings(Settings {
        database: Some(url),
        data_dir: Some(dir.path().display().to_string()),
        ..Default::default()
    })
    .unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(herald::run(config, listener, shutdown.clone()));

    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("http://{address}/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({ "event": "request.create", "uri": "https://example.com/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let listed = client
        .get(format!("http://{address}/v1/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.headers()["x-pagination-total-entries"], "1");

    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops on shutdown")
        .unwrap()
        .unwrap();
}
