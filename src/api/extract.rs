//! Extractors of the request head the handlers share: a record id from the
//! path, and the client's address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::api::listener::ViaTrustedProxy;
use crate::error::ApiError;

/// The record id of a path such as `/webhooks/{id}`. One that is not a
/// number (or not even UTF-8 once percent-decoded) names no record: 404,
/// in the contract's JSON like every other error.
pub struct RecordId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for RecordId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        text.parse().map(RecordId).map_err(|_| ApiError::NotFound)
    }
}

/// The client's address: the connection's peer, or, when that is a
/// trusted proxy, the last address of the request's `X-Forwarded-For` (the
/// one the proxy saw; those before it are the client's word). Unspecified
/// for a request that came through no socket (the tests' in-process
/// requests).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let forwarded = parts
            .extensions
            .get::<ViaTrustedProxy>()
            .filter(|via| via.0)
            .and_then(|_| forwarded_for(&parts.headers));
        Ok(ClientIp(forwarded.unwrap_or(peer)))
    }
}

/// The last address of the last `X-Forwarded-For` header.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    let address = last.to_str().ok()?.rsplit(',').next()?.trim();
    address.parse().ok()
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    async fn client_of(peer: &str, trusted: bool, forwarded: &[&str]) -> IpAddr {
        let mut request = Request::builder();
        for value in forwarded {
            request = request.header("x-forwarded-for", *value);
        }
        let mut parts = request.body(()).unwrap().into_parts().0;
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts.extensions.insert(ViaTrustedProxy(trusted));
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(&mut parts, &()).await;
        ip
    }

    #[tokio::test]
    async fn a_trusted_proxy_names_the_client_by_the_last_forwarded_address() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_of("10.0.0.1:5", true, &["1.1.1.1, 2.2.2.2"]).await,
            ip("2.2.2.2")
        );
        assert_eq!(
            client_of("10.0.0.1:5", true, &["1.1.1.1", "3.3.3.3"]).await,
            ip("3.3.3.3")
        );
        assert_eq!(
            client_of("10.0.0.1:5", true, &[" 2001:db8::1 "]).await,
            ip("2001:db8::1")
        );
        assert_eq!(
            client_of("10.0.0.1:5", true, &["junk"]).await,
            ip("10.0.0.1")
        );
        assert_eq!(client_of("10.0.0.1:5", true, &[]).await, ip("10.0.0.1"));
        assert_eq!(
            client_of("10.0.0.1:5", false, &["2.2.2.2"]).await,
            ip("10.0.0.1"),
            "an untrusted peer picked its own address"
        );
    }
}
