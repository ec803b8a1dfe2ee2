//! A test app served by `herald::serve` on a real socket, for what only a
//! connection shows (connection limits, slow clients, client addresses),
//! and requests written byte by byte on raw connections.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TestApp;

/// Herald serving a test app's store and settings on 127.0.0.1, with its
/// delivery workers; stopped when dropped.
pub struct Served {
    pub address: SocketAddr,
    shutdown: CancellationToken,
    _task: JoinHandle<anyhow::Result<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// This app's store and settings served on a real socket.
    pub async fn serve(&self) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(herald::serve(
            self.store.clone(),
            (*self.config).clone(),
            listener,
            shutdown.clone(),
        ));
        Served {
            address,
            shutdown,
            _task: task,
        }
    }
}

impl Served {
    /// A connection from `client` (an address of 127.0.0.0/8).
    pub async fn connect_from(&self, client: &str) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{client}:0").parse().unwrap()).unwrap();
        socket.connect(self.address).await.unwrap()
    }
}

/// How long a test waits for an answer or for a connection to close
/// before it fails: far longer than any of them takes.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// The head, lower-cased.
    pub head: String,
    pub body: String,
}

impl RawAnswer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }
}

/// Writes `bytes` and reads one answer (its head, and a body of the
/// length it declares).
pub async fn exchange(stream: &mut TcpStream, bytes: &[u8]) -> RawAnswer {
    stream.write_all(bytes).await.unwrap();
    read_answer(stream).await
}

/// Reads one answer; panics when none comes within [`PATIENCE`].
pub async fn read_answer(stream: &mut TcpStream) -> RawAnswer {
    tokio::time::timeout(PATIENCE, async {
        let mut read = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream
                .read(&mut chunk)
                .await
                .expect("the connection failed");
            assert!(n > 0, "the connection closed without an answer");
            read.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&read[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while read.len() < head_end + length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed mid-answer");
            read.extend_from_slice(&chunk[..n]);
        }
        let status = head[9..12].parse().unwrap();
        let body = String::from_utf8_lossy(&read[head_end..head_end + length]).into_owned();
        RawAnswer { status, head, body }
    })
    .await
    .expect("no answer came")
}

/// Whether Herald closed the connection (end of stream or reset) within
/// [`PATIENCE`]; bytes it sends meanwhile are read and dropped.
pub async fn closed_by_herald(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// `GET path` with an optional token, as one request of a kept connection.
pub fn get_request(path: &str, token: Option<&str>) -> Vec<u8> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: herald.test\r\n{auth}\r\n").into_bytes()
}
