//! Open connections per client address, so one client cannot hold every
//! place: an IPv4 address, or an IPv6 address's /64 (which one client
//! usually holds whole), counts its connections against a cap.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

/// How many connections each counted client address has open.
type OpenCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The open connections of each client address.
pub(super) struct Clients {
    cap: usize,
    trusted: Vec<IpNet>,
    open: OpenCounts,
}

/// What an admitted connection holds: a count of its client's, given back
/// when it is dropped, or nothing for a client without a cap.
pub(super) struct ClientSlot(Option<(IpAddr, OpenCounts)>);

impl Clients {
    /// `cap` connections a client (0: no cap); the `trusted` proxies have
    /// none.
    pub(super) fn new(cap: usize, trusted: Vec<IpNet>) -> Clients {
        Clients {
            cap,
            trusted,
            open: Arc::default(),
        }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub(super) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// A slot for one more connection of `ip`, or `None` when it has its
    /// cap open already.
    pub(super) fn admit(&self, ip: IpAddr) -> Option<ClientSlot> {
        if self.cap == 0 || self.trusts(ip) {
            return Some(ClientSlot(None));
        }
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(ClientSlot(Some((key, self.open.clone()))))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some((key, open)) = &self.0 else { return };
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                open.remove(key);
            }
        }
    }
}

/// The address a client is counted by: an IPv4 address (also when it
/// comes IPv4-mapped), or an IPv6 address's /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_cap_and_its_places_back_as_they_close() {
        let clients = Clients::new(2, vec!["10.0.0.0/8".parse().unwrap()]);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = clients.admit(ip).unwrap();
        let _second = clients.admit(ip).unwrap();
        assert!(
            clients.admit(ip).is_none(),
            "a third connection was admitted"
        );
        assert!(
            clients.admit("192.0.2.8".parse().unwrap()).is_some(),
            "another client was refused"
        );
        drop(first);
        assert!(
            clients.admit(ip).is_some(),
            "a closed connection's place stayed taken"
        );
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| clients.admit(proxy)).collect();
        assert!(
            held.iter().all(Option::is_some),
            "a trusted proxy was capped"
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let clients = Clients::new(1, vec![]);
        let _one = clients.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            clients
                .admit("2001:db8:1:2::ffff".parse().unwrap())
                .is_none()
        );
        assert!(clients.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _v4 = clients.admit("192.0.2.1".parse().unwrap()).unwrap();
        assert!(clients.admit("::ffff:192.0.2.1".parse().unwrap()).is_none());
        assert_eq!(
            client_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
