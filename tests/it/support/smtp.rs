//! A small in-process SMTP server on loopback that keeps every message.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct MailMessage {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
pub struct SmtpServer {
    pub address: SocketAddr,
    messages: Arc<Mutex<Vec<MailMessage>>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, store.clone()));
            }
        });
        SmtpServer {
            address,
            messages,
            task: Arc::new(task),
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    pub fn messages(&self) -> Vec<MailMessage> {
        self.messages.lock().unwrap().clone()
    }
}

async fn session(stream: tokio::net::TcpStream, store: Arc<Mutex<Vec<MailMessage>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut current = MailMessage {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    if write.write_all(b"220 test SMTP ready\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            b"250-test greets you\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO")
            || upper.starts_with("NOOP")
            || upper.starts_with("RSET")
        {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            current = MailMessage {
                from: line[10..].trim().to_string(),
                to: Vec::new(),
                data: String::new(),
            };
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            current
                .to
                .push(line[8..].trim().trim_matches(['<', '>']).to_string());
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            if write.write_all(b"354 end with .\r\n").await.is_err() {
                return;
            }
            while let Ok(Some(data)) = lines.next_line().await {
                if data == "." {
                    break;
                }
                current.data.push_str(&data);
                current.data.push('\n');
            }
            store.lock().unwrap().push(current.clone());
            b"250 OK queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 not implemented\r\n"
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}
