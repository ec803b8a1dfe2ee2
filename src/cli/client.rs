//! A small client of a running Herald's API, for the commands a developer
//! runs against it (`listen`, `trigger`).

use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where Herald is and the token to call it with.
#[derive(Clone, Debug, clap::Args)]
pub struct Target {
    /// Herald's base URL, such as http://127.0.0.1:8080.
    #[arg(long, env = "HERALD_URL")]
    pub url: String,
    /// An API token of the account (an administrator's for `listen`).
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// An answer: its status and JSON body (`null` when empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Answer {
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// The `[field, message]` pairs of a 422.
    pub fn errors(&self) -> Vec<(String, String)> {
        let pairs = self.body["errors"].as_array().cloned().unwrap_or_default();
        pairs
            .iter()
            .filter_map(|pair| {
                Some((
                    pair.get(0)?.as_str()?.to_string(),
                    pair.get(1)?.as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// The body for success, else an error naming the status and message.
    pub fn success(self, what: &str) -> anyhow::Result<Value> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        anyhow::bail!("{what}: Herald answered {}: {}", self.status, self.body)
    }
}

pub struct Client {
    http: reqwest::Client,
    target: Target,
}

impl Client {
    pub fn new(target: Target) -> anyhow::Result<Client> {
        crate::delivery::sender::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Client { http, target })
    }

    pub fn base(&self) -> &str {
        self.target.url.trim_end_matches('/')
    }

    /// Calls `path` (under the base URL) with the token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base());
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.target.token);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let answer = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        Ok(Answer::read(answer).await)
    }

    /// A GET of an absolute URL without the token (a verification callback).
    pub async fn get_url(&self, url: &str) -> anyhow::Result<Answer> {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        Ok(Answer::read(answer).await)
    }

    /// POSTs `body` to an absolute URL with `headers`, as Herald sent it.
    pub async fn forward(
        &self,
        url: &str,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let answer = self
            .http
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = answer.status();
        Ok((status, answer.text().await.unwrap_or_default()))
    }
}
