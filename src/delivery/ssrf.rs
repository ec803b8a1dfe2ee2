//! The SSRF guard: a DNS resolver that hands the HTTP client only addresses
//! the target policy allows, so the address checked is the address connected
//! to (no DNS-rebinding window). IP literals never reach a resolver and are
//! checked by the sender before it connects.

use std::error::Error;
use std::fmt;
use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::target::TargetPolicy;

/// Every address of a name was refused: `private address 10.0.0.5`.
#[derive(Debug)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl Error for Refused {}

/// The name did not resolve.
#[derive(Debug)]
pub struct LookupFailed {
    pub host: String,
    pub reason: String,
}

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not resolve host {}: {}", self.host, self.reason)
    }
}

impl Error for LookupFailed {}

pub struct GuardedResolver {
    pub targets: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let targets = self.targets.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    Box::new(LookupFailed {
                        host: host.clone(),
                        reason: e.to_string(),
                    }) as Box<dyn Error + Send + Sync>
                })?
                .collect();
            let (allowed, refused) = filter(&targets, found);
            if allowed.is_empty() {
                let reason = refused.unwrap_or_else(|| format!("no address for {host}"));
                return Err(Box::new(Refused(reason)) as Box<dyn Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The allowed addresses, and the first refusal's reason.
fn filter(targets: &TargetPolicy, found: Vec<SocketAddr>) -> (Vec<SocketAddr>, Option<String>) {
    let mut refused = None;
    let allowed = found
        .into_iter()
        .filter(|addr| match targets.check(addr.ip()) {
            Ok(()) => true,
            Err(reason) => {
                refused.get_or_insert(reason);
                false
            }
        })
        .collect();
    (allowed, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_public_addresses_and_names_the_first_refusal() {
        let addrs: Vec<SocketAddr> = vec![
            "10.0.0.5:0".parse().unwrap(),
            "93.184.216.34:0".parse().unwrap(),
        ];
        let (allowed, refused) = filter(&TargetPolicy::default(), addrs);
        assert_eq!(
            allowed,
            vec!["93.184.216.34:0".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(refused.as_deref(), Some("private address 10.0.0.5"));
    }
}
