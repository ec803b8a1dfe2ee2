//! `herald listen` and `herald trigger` as a developer runs them, against
//! a Herald that may deliver to loopback: the handshake, printed messages
//! with their verdict, forwarding, and the webhooks gone after Ctrl-C.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use herald::cli::trigger::{Target, TriggerArgs, sample_event, samples};
use herald::config::Settings;
use herald::domain::EventName;
use serde_json::json;

use super::live::Live;
use crate::api::policies::create_policy;
use crate::on_databases;
use crate::support::child::KillOnDrop;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, delivery_settings, eventually};

on_databases!(
    listen_prints_verified_messages_forwards_them_and_cleans_up,
    listen_says_how_to_allow_a_refused_loopback_address,
    every_catalogue_event_has_a_sample_herald_accepts,
);

/// A `herald` child whose stdout is collected as it comes.
struct Running {
    child: KillOnDrop,
    out: Arc<Mutex<String>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(args)
                .env_remove("HERALD_URL")
                .env_remove("HERALD_TOKEN")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.0.stdout.take().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        Running { child, out }
    }

    fn out(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    async fn printed(&self, what: &str) -> String {
        eventually(&format!("{what:?} printed"), || async {
            let out = self.out();
            out.contains(what).then_some(out)
        })
        .await
    }
}

/// `herald listen` for `events` against `live`, with `extra` flags.
fn listen(live: &Live, token: &str, events: &str, extra: &[&str]) -> Running {
    let flags = [
        "listen", "--url", &live.base, "--token", token, "--events", events,
    ];
    Running::start(&[&flags[..], extra].concat())
}

fn trigger(base: &str, token: &str, event: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["trigger", event, "--url", base, "--token", token])
        .args(["--object-id", "4242", "--person", "77:Ada Lovelace"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn listen_prints_verified_messages_forwards_them_and_cleans_up(backend: Backend) {
    let settings = Settings {
        require_verification: Some(true),
        ..delivery_settings()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let live = Live::start(&app).await;
    let token = app.admin("wdc").await;
    let local_app = Receiver::ok().await;
    let policy = create_policy(
        &app,
        &token,
        json!({ "signature_scheme": "standard_webhooks" }),
    )
    .await;
    let secret = policy["webhook_secret"].as_str().unwrap();
    let policy_id = policy["id"].to_string();
    let forward_to = local_app.url("/hooks");
    let listen = listen(
        &live,
        &token,
        "task.update,request.note-added",
        &[
            "--forward-to",
            &forward_to,
            "--policy-id",
            &policy_id,
            "--policy-secret",
            secret,
        ],
    );
    listen.printed("Ready: 2 temporary webhook(s)").await;
    listen.printed("verification: webhook verified").await;
    let hooks = app.get("/v1/webhooks", &token).await;
    let hooks = hooks.body.as_array().unwrap().clone();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert!(
        hooks
            .iter()
            .all(|h| h["uri"].as_str().unwrap().starts_with("http://127.0.0.1:"))
    );

    let triggered = trigger(&live.base, &token, "task.update");
    assert!(triggered.contains("\"deliveries\":1"), "{triggered}");
    let out = listen.printed("<-- forwarded to").await;
    assert!(out.contains("task.update"), "{out}");
    assert!(
        out.contains("webhook-signature: v1,"),
        "headers printed: {out}"
    );
    assert!(out.contains("\"object_id\": 4242"), "pretty JSON: {out}");
    assert!(out.contains("\"person_name\": \"Ada Lovelace\""), "{out}");
    assert!(
        out.contains("verdict: verified (Standard Webhooks signature)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("<-- forwarded to {forward_to}: 200 OK")),
        "{out}"
    );
    let forwarded = local_app.wait_for(1).await.remove(0);
    assert_eq!(forwarded.body["event"], "task.update");
    assert!(
        forwarded.header("webhook-signature").is_some(),
        "sent on as Herald sent it"
    );

    // Ctrl-C: the webhooks go, and listen ends well.
    let pid = listen.child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut listen = listen;
    let status = wait_exit(&mut listen.child).await;
    assert!(status.success(), "{}", listen.out());
    assert!(listen.out().contains("Deleted 2 temporary webhook(s)."));
    let hooks = app.get("/v1/webhooks", &token).await;
    assert_eq!(hooks.body, json!([]));
}

async fn wait_exit(child: &mut KillOnDrop) -> std::process::ExitStatus {
    eventually("the child to exit", || {
        let done = child.0.try_wait().unwrap();
        async move { done }
    })
    .await
}

async fn listen_says_how_to_allow_a_refused_loopback_address(backend: Backend) {
    let Some(app) = TestApp::start(backend, Settings::default()).await else {
        return;
    };
    let live = Live::start(&app).await;
    let token = app.admin("wdc").await;
    let mut listen = listen(&live, &token, "task.update", &[]);
    let status = wait_exit(&mut listen.child).await;
    assert!(!status.success());
    let mut stderr = String::new();
    listen
        .child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("Herald refuses to deliver to http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-private-targets"), "{stderr}");
    assert_eq!(app.get("/v1/webhooks", &token).await.body, json!([]));
}

async fn every_catalogue_event_has_a_sample_herald_accepts(app: TestApp) {
    let token = app.admin("wdc").await;
    let target = app
        .create_webhook(
            &token,
            json!({ "event": "automation_rule", "uri": "https://receiver.example.com/rules" }),
        )
        .await;
    assert_eq!(samples().len(), EventName::catalogue().count());
    let mut bodies = Vec::new();
    for event in EventName::catalogue() {
        let mut args = sample_args(event, &token);
        args.webhook_id = (event == "automation_rule").then(|| target["id"].as_i64().unwrap());
        let body = sample_event(&args).unwrap();
        assert_eq!(body["event"], event);
        assert!(
            body["payload"].is_object() && body["object_id"].is_i64(),
            "{body}"
        );
        bodies.push(body);
    }
    let answer = app.post("/v1/events", &token, json!(bodies)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let unknown = sample_args("request.created", &token);
    assert!(sample_event(&unknown).is_err());
}

/// `herald trigger <event>` with no flags but the target.
fn sample_args(event: &str, token: &str) -> TriggerArgs {
    TriggerArgs {
        event: event.to_string(),
        target: Target {
            url: "http://unused".into(),
            token: token.to_string(),
        },
        object_id: None,
        payload: None,
        person: None,
        webhook_id: None,
    }
}
