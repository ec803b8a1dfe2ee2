//! What the receiver-side tests share: Herald served on a real port whose
//! public URL is its own address (so a receiver can follow `iss` to the
//! keys), and the example receivers of `examples/receivers/` run as child
//! processes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
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

/// Whether python3 has the receivers' libraries; under CI it must.
pub fn python_receivers_available() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import jwt, standardwebhooks"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have python3 with PyJWT[crypto] and standardwebhooks"
        );
        eprintln!("skipping: no python3 with PyJWT and standardwebhooks");
    }
    available
}

/// An example receiver (`examples/receivers/python/<script>`) listening
/// on loopback; killed when dropped.
pub struct ExampleReceiver {
    _child: KillOnDrop,
    pub port: u16,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl ExampleReceiver {
    pub async fn start(script: &str, env: &[(&str, &str)]) -> ExampleReceiver {
        let path = format!(
            "{}/examples/receivers/python/{script}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut child = KillOnDrop(
            Command::new("python3")
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
