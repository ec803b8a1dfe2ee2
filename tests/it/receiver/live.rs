//! What the receiver-side tests share: Herald served on a real port whose
//! public URL is its own address (so a receiver can follow `iss` to the
//! keys), and the example receivers of `examples/receivers/` run as child
//! processes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::TestApp;
use crate::support::child::KillOnDrop;

/// Herald on 127.0.0.1 with its delivery workers, its public URL its own
/// address; stopped when dropped.
pub struct Live {
    pub base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Live {
    pub async fn start(app: &TestApp) -> Live {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = (*app.config).clone();
        config.public_url = base.clone();
        let shutdown = CancellationToken::new();
        tokio::spawn(herald::serve(
            app.store.clone(),
            config,
            listener,
            shutdown.clone(),
        ));
        herald::delivery::sender::install_crypto_provider();
        Live {
            base,
            client: reqwest::Client::new(),
            shutdown,
        }
    }

    /// The `iss` of a discovery policy's messages.
    pub fn issuer(&self, account: &str, policy_id: i64) -> String {
        format!("{}/{account}/webhook_policies/{policy_id}", self.base)
    }

    /// POSTs `body` with `token`; the status and JSON answer.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let answer = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }
}

impl Live {
    /// A webhook for `event` to `uri` signed by `policy`, asserted made.
    pub async fn hook(&self, token: &str, event: &str, uri: &str, policy: &Value) -> Value {
        let body = json!({ "event": event, "uri": uri, "webhook_policy_id": policy });
        let (status, hook) = self.post("/v1/webhooks", token, body).await;
        assert!(matches!(status, 200 | 201), "{hook}");
        hook
    }

    /// Publishes `event`, asserted accepted.
    pub async fn publish(&self, token: &str, event: Value) {
        let (status, answer) = self.post("/v1/events", token, event).await;
        assert_eq!(status, 202, "{answer}");
    }
}

/// Whether python3 has the receivers' libraries; under CI it must.
pub fn python_receivers_available() -> bool {
    available(
        Command::new("python3").args(["-c", "import jwt, standardwebhooks"]),
        "python3 with PyJWT[crypto] and standardwebhooks",
    )
}

/// Whether node and the Node receivers' packages (`npm ci` in
/// examples/receivers/node) are here; under CI they must be.
fn node_receivers_available() -> bool {
    let mut installed = Command::new("node");
    installed
        .current_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/receivers/node"
        ))
        .args(["--input-type=module", "-e"])
        .arg("await import('jose'); await import('standardwebhooks')");
    available(
        &mut installed,
        "node with jose and standardwebhooks (npm ci)",
    )
}

fn available(check: &mut Command, what: &str) -> bool {
    let found = check
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var("CI").is_err(), "CI must have {what}");
        eprintln!("skipping a receiver: no {what}");
    }
    found
}

/// The example receivers `<stem>.py` and `<stem>.js` (those whose
/// language is installed), each started with `env`.
pub async fn example_receivers(stem: &str, env: &[(&str, &str)]) -> Vec<ExampleReceiver> {
    let mut started = Vec::new();
    if python_receivers_available() {
        started.push(ExampleReceiver::start(&format!("python/{stem}.py"), env).await);
    }
    if node_receivers_available() {
        started.push(ExampleReceiver::start(&format!("node/{stem}.js"), env).await);
    }
    started
}

/// An example receiver (`examples/receivers/<language>/<script>`)
/// listening on loopback; killed when dropped.
pub struct ExampleReceiver {
    _child: KillOnDrop,
    pub script: String,
    pub port: u16,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl ExampleReceiver {
    /// Runs `script` (`python/x.py` or `node/x.js`) with `env`.
    pub async fn start(script: &str, env: &[(&str, &str)]) -> ExampleReceiver {
        let path = format!("{}/examples/receivers/{script}", env!("CARGO_MANIFEST_DIR"));
        let program = if script.ends_with(".js") {
            "node"
        } else {
            "python3"
        };
        let mut child = KillOnDrop(
            Command::new(program)
                .arg(path)
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (send, mut lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(json) = serde_json::from_str::<Value>(&line) {
                    let _ = send.send(json);
                }
            }
        });
        let first = next_within(&mut lines).await;
        let port = first["listening"].as_u64().expect("a listening line") as u16;
        ExampleReceiver {
            _child: child,
            script: script.to_string(),
            port,
            lines,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// What it printed of the next message it received.
    pub async fn next(&mut self) -> Value {
        next_within(&mut self.lines).await
    }
}

async fn next_within(lines: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(20), lines.recv())
        .await
        .expect("the receiver printed nothing within 20 s")
        .expect("the receiver exited")
}
