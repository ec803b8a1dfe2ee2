//! `herald token create | list | rotate | revoke`, and what they do to
//! `herald serve` processes sharing their database: a token revoked
//! anywhere is refused by every process on its next request.

use std::process::{Command, Output};

use crate::on_databases;
use crate::support::child::{self, HeraldChild};
use crate::support::{Backend, EmptyDatabase};

/// Runs `herald token <args> --database <database>`.
fn token(database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("token")
        .args(args)
        .args(["--database", database])
        .env_remove("HERALD_DATABASE")
        .env_remove("HERALD_CONFIG")
        .output()
        .unwrap()
}

/// What a command that must succeed printed on stdout, trimmed.
fn succeeded(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The stderr of a command that must fail, printing nothing on stdout.
fn failed(output: Output) -> String {
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr).unwrap()
}

/// `token list`, each line split into its columns.
fn listed(database: &str) -> Vec<Vec<String>> {
    succeeded(token(database, &["list", "--account", "wdc"]))
        .lines()
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect()
}

fn ids(listed: &[Vec<String>]) -> Vec<&str> {
    listed.iter().map(|columns| columns[0].as_str()).collect()
}

#[test]
fn token_commands_make_list_rotate_and_revoke_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    let howard = [
        "--account",
        "wdc",
        "--name",
        "Howard Tanner",
        "--email",
        "howard@example.com",
    ];
    let admin = succeeded(token(
        &database,
        &[&["create", "--role", "administrator"], &howard[..]].concat(),
    ));
    let deploy = succeeded(token(
        &database,
        &[
            &["create", "--role", "publisher"],
            &howard[..],
            &["--description", "deploy script", "--expires-in", "90d"],
        ]
        .concat(),
    ));
    assert!(
        deploy.starts_with("hrld_") && !deploy.contains('\n'),
        "{deploy}"
    );

    let lines = listed(&database);
    assert_eq!(ids(&lines), ["1", "2"]);
    assert!(lines.iter().all(|columns| columns.len() == 7), "{lines:?}");
    assert_eq!(lines[0][1..4], ["Howard Tanner", "administrator", "-"]);
    assert_eq!(lines[0][5..], ["never", "never"]);
    assert_eq!(
        lines[1][1..4],
        ["Howard Tanner", "publisher", "deploy script"]
    );
    let expires = &lines[1][5];
    assert!(
        expires > &lines[1][4] && expires.ends_with("+00:00"),
        "{expires}"
    );
    let text = format!("{lines:?}");
    for secret in [&admin, &deploy] {
        assert!(!text.contains(secret.as_str()), "a token is listed");
    }

    // Rotated with an overlap, the old token is listed until it ends.
    let overlapping = succeeded(token(&database, &["rotate", "2", "--overlap", "1h"]));
    assert!(overlapping.starts_with("hrld_") && overlapping != deploy);
    let lines = listed(&database);
    assert_eq!(ids(&lines), ["1", "2", "3"]);
    assert!(
        lines[1][5] < lines[2][5],
        "the old one ends first: {lines:?}"
    );
    assert_eq!(
        lines[2][1..4],
        ["Howard Tanner", "publisher", "deploy script"]
    );
    // Rotated without one, it is revoked at once.
    succeeded(token(&database, &["rotate", "3"]));
    assert_eq!(ids(&listed(&database)), ["1", "2", "4"]);

    succeeded(token(&database, &["revoke", "2"]));
    assert_eq!(ids(&listed(&database)), ["1", "4"]);
    assert!(failed(token(&database, &["revoke", "2"])).contains("no token 2"));
    assert!(failed(token(&database, &["rotate", "99"])).contains("no token 99"));
    let nobody = succeeded(token(&database, &["list", "--account", "acme"]));
    assert_eq!(nobody, "");

    for (args, needle) in [
        (
            vec![
                "create",
                "--account",
                "wdc",
                "--role",
                "member",
                "--expires-in",
                "0s",
            ],
            "expires-in",
        ),
        (
            vec![
                "create",
                "--account",
                "wdc",
                "--role",
                "member",
                "--expires-in",
                "soon",
            ],
            "expires-in",
        ),
        (vec!["rotate", "4", "--overlap", "ever"], "overlap"),
        (vec!["revoke", "four"], "ID"),
        (vec!["list"], "--account"),
    ] {
        let stderr = failed(token(&database, &args));
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let long = "x".repeat(256);
    let args = [
        "create",
        "--account",
        "wdc",
        "--role",
        "member",
        "--description",
        &long,
    ];
    assert!(failed(token(&database, &args)).contains("description"));
}

on_databases!(a_token_revoked_anywhere_is_refused_at_once_by_every_process);

async fn a_token_revoked_anywhere_is_refused_at_once_by_every_process(backend: Backend) {
    let Some(database) = EmptyDatabase::create(backend).await else {
        return;
    };
    let url = database.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let create = |role: &str, email: &str| {
        let args = [
            "create",
            "--account",
            "wdc",
            "--role",
            role,
            "--email",
            email,
        ];
        succeeded(token(url, &args))
    };
    let admin = create("administrator", "admin@example.com");
    let deploy = create("publisher", "deploy@example.com");
    let deploy_id = ids(&listed(url))[1].to_string();
    let a = child::start(url, dir.path());
    let b = child::start(url, dir.path());
    herald::delivery::sender::install_crypto_provider();
    let client = reqwest::Client::new();
    let status = |herald: &HeraldChild, token: &str| {
        let request = client.get(herald.url("/v1")).bearer_auth(token).send();
        async move { request.await.unwrap().status().as_u16() }
    };
    // Each process has the token in its cache.
    for herald in [&a, &b] {
        assert_eq!(status(herald, &deploy).await, 200);
    }

    // Rotated with an overlap: the old token and the new both work.
    let overlapping = succeeded(token(url, &["rotate", &deploy_id, "--overlap", "1h"]));
    let overlapping_id = ids(&listed(url)).last().unwrap().to_string();
    for herald in [&a, &b] {
        assert_eq!(status(herald, &deploy).await, 200);
        assert_eq!(status(herald, &overlapping).await, 200);
    }
    // Rotated without one: the old token is refused by both at once.
    let replaced = succeeded(token(url, &["rotate", &overlapping_id]));
    let replaced_id = ids(&listed(url)).last().unwrap().to_string();
    for herald in [&a, &b] {
        assert_eq!(status(herald, &overlapping).await, 401);
        assert_eq!(status(herald, &replaced).await, 200);
        assert_eq!(status(herald, &deploy).await, 200, "its overlap runs on");
    }

    // Revoked over the API of one process: the other refuses it next.
    let revoked = client
        .delete(a.url(&format!("/v1/api_tokens/{deploy_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(status(&b, &deploy).await, 401);
    assert_eq!(status(&a, &deploy).await, 401);

    // Revoked at the command line, a third process: both refuse it next.
    succeeded(token(url, &["revoke", &replaced_id]));
    for herald in [&b, &a] {
        assert_eq!(status(herald, &replaced).await, 401);
        assert_eq!(status(herald, &admin).await, 200, "only that token");
    }
}
