//! A test app served with its operators' listener (`/metrics`, `/healthz`,
//! `/readyz`), and scrapes of its metrics read as samples.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TestApp;

/// Herald serving a test app's store and settings, with its workers and
/// metrics; stopped when dropped.
pub struct Observed {
    pub address: SocketAddr,
    pub metrics_address: SocketAddr,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    _task: JoinHandle<anyhow::Result<()>>,
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// This app's store and settings served, metrics on.
    pub async fn observe(&self) -> Observed {
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (address, metrics_address) = (api.local_addr().unwrap(), metrics.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let listeners = herald::Listeners {
            api,
            metrics: Some(metrics),
        };
        let task = tokio::spawn(herald::serve_on(
            self.store.clone(),
            (*self.config).clone(),
            listeners,
            shutdown.clone(),
        ));
        herald::delivery::sender::install_crypto_provider();
        Observed {
            address,
            metrics_address,
            client: reqwest::Client::new(),
            shutdown,
            _task: task,
        }
    }
}

impl Observed {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn ops_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics_address)
    }

    /// `POST path` with `body` as `token`; the answer's status and JSON.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The metrics as they stand.
    pub async fn scrape(&self) -> Scrape {
        let response = self
            .client
            .get(self.ops_url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        Scrape::parse(response.text().await.unwrap())
    }

    /// Waits until `sample`'s value (summed over the series whose labels
    /// include `labels`) is `expected`; returns the scrape that showed it.
    pub async fn metric_reaches(
        &self,
        sample: &str,
        labels: &[(&str, &str)],
        expected: f64,
    ) -> Scrape {
        let what = format!("{sample}{labels:?} to reach {expected}");
        super::eventually(&what, || async {
            let scrape = self.scrape().await;
            (scrape.value(sample, labels) == expected).then_some(scrape)
        })
        .await
    }
}

/// A sample's labels, as pairs of name and value.
type Labels = Vec<(String, String)>;

/// One scrape: each sample's name, labels and value.
pub struct Scrape {
    pub text: String,
    samples: Vec<(String, Labels, f64)>,
}

impl Scrape {
    /// A deliberately plain reading of the text format, enough for the
    /// tests' sums (the format itself is checked by an independent parser:
    /// `tests/tools/check_observability.py`).
    pub fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => (name, labels_of(rest.trim_end_matches('}'))),
                    None => (series, Vec::new()),
                };
                (name.to_string(), labels, value.parse().unwrap())
            })
            .collect();
        Scrape { text, samples }
    }

    /// The sum of `name`'s samples whose labels include `labels`; 0 when none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, have, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
            })
            .map(|(_, _, value)| value)
            .sum()
    }

    /// Whether any sample of `name` has a label `label`.
    pub fn has_label(&self, name: &str, label: &str) -> bool {
        self.samples
            .iter()
            .any(|(n, have, _)| n == name && have.iter().any(|(k, _)| k == label))
    }
}

/// `a="x",b="y"` (values without commas or escaped quotes, as Herald's are).
fn labels_of(text: &str) -> Labels {
    text.split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap();
            (key.to_string(), value.trim_matches('"').to_string())
        })
        .collect()
}
