//! Sends one message over HTTP with the shared client: a timeout, no
//! redirects, no proxies, a capped response read, and readable failures.

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};

use super::ssrf::{GuardedResolver, LookupFailed, Refused};
use crate::domain::target::TargetPolicy;

pub const USER_AGENT: &str = "R-Service/1.0 (Herald)";
/// How much of a response body is kept.
pub const MAX_RESPONSE_BODY: usize = 16 * 1024;

/// A receiver's answer (any status).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub truncated: bool,
    pub remote: Option<SocketAddr>,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Refused(String),
    Timeout(Duration),
    ConnectionRefused,
    Lookup(String),
    Other(String),
}

impl Failure {
    /// The `last_error` text (§9): `timeout after 10s`, `connection refused`...
    pub fn describe(&self) -> String {
        match self {
            Failure::Refused(reason) => format!("refused: {reason}"),
            Failure::Timeout(after) => {
                format!("timeout after {}", humantime::format_duration(*after))
            }
            Failure::ConnectionRefused => "connection refused".into(),
            Failure::Lookup(reason) => reason.clone(),
            Failure::Other(reason) => reason.clone(),
        }
    }
}

pub struct Sender {
    client: reqwest::Client,
    timeout: Duration,
    targets: TargetPolicy,
}

impl Sender {
    pub fn new(timeout: Duration, targets: TargetPolicy) -> anyhow::Result<Sender> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .dns_resolver(Arc::new(GuardedResolver {
                targets: targets.clone(),
            }))
            .build()?;
        Ok(Sender {
            client,
            timeout,
            targets,
        })
    }

    pub async fn post(
        &self,
        uri: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Reply, Failure> {
        let url = Url::parse(uri).map_err(|e| Failure::Other(format!("invalid uri: {e}")))?;
        // IP literals skip the resolver: check them here.
        if let Some(ip) = literal_ip(&url)
            && let Err(reason) = self.targets.check(ip)
        {
            return Err(Failure::Refused(reason));
        }
        let mut response = self
            .client
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| self.classify(&e))?;
        let status = response.status();
        let remote = response.remote_addr();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BODY - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // The status is what counts; a body cut short is kept as read.
                Err(_) => {
                    truncated = true;
                    break;
                }
            }
        }
        Ok(Reply {
            status,
            headers,
            body,
            truncated,
            remote,
        })
    }

    fn classify(&self, error: &reqwest::Error) -> Failure {
        if error.is_timeout() {
            return Failure::Timeout(self.timeout);
        }
        let mut source = error.source();
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                return Failure::Refused(refused.0.clone());
            }
            if let Some(lookup) = cause.downcast_ref::<LookupFailed>() {
                return Failure::Lookup(lookup.to_string());
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return Failure::ConnectionRefused,
                    std::io::ErrorKind::TimedOut => return Failure::Timeout(self.timeout),
                    _ => {}
                }
            }
            source = cause.source();
        }
        let mut innermost: &dyn std::error::Error = error;
        while let Some(cause) = innermost.source() {
            innermost = cause;
        }
        let detail = innermost.to_string();
        Failure::Other(format!("connection failed: {detail}"))
    }
}

/// rustls needs a process-wide crypto provider before any HTTP client is
/// built; installing it again is a no-op.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn literal_ip(url: &Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// `404 Not Found`: the status line of a failed answer.
pub fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}
