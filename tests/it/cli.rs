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

    stop(shutdown, server).await;
}

/// Cancels `shutdown` and waits for the in-process server to stop cleanly.
async fn stop(shutdown: CancellationToken, server: tokio::task::JoinHandle<anyhow::Result<()>>) {
    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops on shutdown")
        .unwrap()
        .unwrap();
}

/// With every place of `--max-connections` taken by a client that keeps
/// its connection open between requests (as connection pools do), a new
/// client is still served: the idle connection is closed after
/// `--connection-idle-timeout`, and the new one takes its place. Without
/// the timeout the new client waited in the accept queue for good.
#[tokio::test]
async fn an_idle_connection_gives_its_place_to_a_new_client() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = Config::from_settings(Settings {
        database: Some(sqlite_url(&dir)),
        data_dir: Some(dir.path().display().to_string()),
        max_connections: Some(1),
        connection_idle_timeout: Some("1s".into()),
        ..Default::default()
    })
    .unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(herald::run(config, listener, shutdown.clone()));

    herald::delivery::sender::install_crypto_provider();
    let health = format!("http://{address}/healthz");
    // Keeps its connection open after the answer, idle, for a minute.
    let pooling = reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let first = pooling.get(&health).send().await.unwrap();
    assert_eq!(first.status(), 200);
    first.bytes().await.unwrap();
    // Another client, while the first holds the only place.
    let other = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap();
    let answered = other.get(&health).send().await;
    assert_eq!(
        answered.map(|r| r.status()).map_err(|e| e.to_string()),
        Ok(reqwest::StatusCode::OK),
        "the new client was not served"
    );

    stop(shutdown, server).await;
}

/// `herald serve` whose log nobody reads any more (its stderr a pipe whose
/// reader went away, as when a log shipper dies) keeps answering, and
/// SIGTERM still stops it gracefully: an unwritable log line is dropped,
/// not turned into a panic of the task that logged it.
#[tokio::test]
async fn serve_keeps_working_and_stops_on_sigterm_when_its_log_pipe_is_closed() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let mut child = crate::support::child::KillOnDrop(
        herald()
            .args([
                "serve",
                "--database",
                &sqlite_url(&dir),
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path())
            .env("HERALD_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let address = crate::support::child::listening_address(&mut lines).unwrap();
    // The read end of the pipe closes: every log line from now on fails.
    drop(lines);

    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let health = client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .expect("herald answers with its log pipe closed");
        assert_eq!(health.status(), 200);
    }

    let sent = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "herald did not stop on SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
