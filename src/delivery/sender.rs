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
/// How much of a response's headers is kept: at most this many bytes of
/// names and values...
pub const MAX_RESPONSE_HEADER_BYTES: usize = 16 * 1024;
/// ...and at most this many headers. A receiver decides what it answers,
/// and every attempt's answer is stored for the retention period.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// A receiver's answer (any status).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// The first headers, within [`MAX_RESPONSE_HEADERS`] and
    /// [`MAX_RESPONSE_HEADER_BYTES`].
    pub headers: HeaderMap,
    /// Whether headers beyond those were left out.
    pub headers_truncated: bool,
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
        let (headers, headers_truncated) = capped_headers(std::mem::take(response.headers_mut()));
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
            headers_truncated,
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

/// The first headers within the caps, and whether any were left out.
fn capped_headers(all: HeaderMap) -> (HeaderMap, bool) {
    let mut kept = HeaderMap::new();
    let mut bytes = 0;
    let mut truncated = false;
    let mut name = None;
    for (next, value) in all {
        // `None` repeats the name of the header before it.
        if next.is_some() {
            name = next;
        }
        let Some(name) = &name else { continue };
        let size = name.as_str().len() + value.len();
        if kept.len() >= MAX_RESPONSE_HEADERS || bytes + size > MAX_RESPONSE_HEADER_BYTES {
            truncated = true;
            break;
        }
        bytes += size;
        kept.append(name.clone(), value);
    }
    (kept, truncated)
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

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn headers_past_the_caps_are_left_out_and_said_to_be() {
        let mut few = HeaderMap::new();
        few.append("x-a", HeaderValue::from_static("1"));
        few.append("x-a", HeaderValue::from_static("2"));
        let (kept, truncated) = capped_headers(few.clone());
        assert_eq!((kept, truncated), (few, false));

        let mut large = HeaderMap::new();
        for i in 0..95 {
            let name = reqwest::header::HeaderName::try_from(format!("x-h{i}")).unwrap();
            large.append(name, HeaderValue::from_str(&"v".repeat(4000)).unwrap());
        }
        let (kept, truncated) = capped_headers(large);
        assert!(truncated);
        assert_eq!(kept.len(), 4, "4 headers of 4 KB fit in 16 KiB");

        let mut many = HeaderMap::new();
        for i in 0..(MAX_RESPONSE_HEADERS + 5) {
            many.append("x-many", HeaderValue::from_str(&i.to_string()).unwrap());
        }
        let (kept, truncated) = capped_headers(many);
        assert!(truncated);
        assert_eq!(kept.len(), MAX_RESPONSE_HEADERS);
    }
}
