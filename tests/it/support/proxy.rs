//! A TCP proxy on loopback that a test can cut: every connection through
//! it closes and new ones are refused, as when a database server goes away.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    pub address: SocketAddr,
    cut: CancellationToken,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut.cancel();
    }
}

impl TcpProxy {
    /// Forwards connections to `target` until cut.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cut = CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let (inbound, _) = tokio::select! {
                    _ = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                tokio::spawn(forward(inbound, target, stop.clone()));
            }
        });
        TcpProxy { address, cut }
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.cancel();
    }
}

async fn forward(mut inbound: TcpStream, target: SocketAddr, stop: CancellationToken) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
    }
}
