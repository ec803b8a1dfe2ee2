//! Webhook target URIs and which addresses Herald may send to (§4, §9).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

pub const MAX_URI_LENGTH: usize = 2048;

/// An absolute `http`/`https` URL with a host, at most 2048 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUri(Url);

impl WebhookUri {
    /// Returns the contract's message on failure (`Uri is invalid`...).
    pub fn parse(text: &str) -> Result<WebhookUri, &'static str> {
        if text.trim().is_empty() {
            return Err("Uri can't be blank");
        }
        if text.chars().count() > MAX_URI_LENGTH {
            return Err("Uri is too long (maximum is 2048 characters)");
        }
        let url = Url::parse(text).map_err(|_| "Uri is invalid")?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("Uri must use http or https");
        }
        if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err("Uri is invalid");
        }
        if url.as_str().chars().count() > MAX_URI_LENGTH {
            return Err("Uri is too long (maximum is 2048 characters)");
        }
        Ok(WebhookUri(url))
    }

    /// The literal IP address of the host, if it is one (any spelling the URL
    /// standard accepts, such as `http://2130706433/`, is normalised by then).
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Which addresses outbound requests may reach.
#[derive(Clone, Debug, Default)]
pub struct TargetPolicy {
    pub allow_private: bool,
    pub allowed: Vec<IpNet>,
}

impl TargetPolicy {
    /// `Err("private address 10.0.0.5")` when the address is not public and not allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match non_public_kind(ip) {
            Some(kind) => Err(format!("{kind} address {ip}")),
            None => Ok(()),
        }
    }
}

/// Why an address is not a public unicast one, or `None` when it is.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (CGNAT)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
    {
        Some("reserved")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64
    // (64:ff9b::a.b.c.d) forms reach the embedded IPv4 address.
    let embedded_v4 = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    let mapped = seg[..5] == [0; 5] && seg[5] == 0xffff;
    let compatible = seg[..6] == [0; 6];
    let nat64 = seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0; 4];
    if mapped || compatible || nat64 {
        return v4_kind(embedded_v4).or(if compatible { Some("reserved") } else { None });
    }
    if seg[0] == 0x2002 {
        // 6to4 embeds an IPv4 address in bits 16..48.
        let v4 = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        return v4_kind(v4);
    }
    match seg[0] {
        s if s & 0xfe00 == 0xfc00 => Some("unique-local"),
        s if s & 0xffc0 == 0xfe80 => Some("link-local"),
        s if s & 0xffc0 == 0xfec0 => Some("site-local"),
        s if s & 0xff00 == 0xff00 => Some("multicast"),
        0x2001 if seg[1] == 0x0db8 => Some("documentation"),
        0x2001 if seg[1] == 0 => Some("reserved (Teredo)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<&'static str> {
        non_public_kind(text.parse().unwrap())
    }

    #[test]
    fn classifies_non_public_addresses() {
        for (ip, expected) in [
            ("127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
            ("172.16.3.4", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:0101::1", "private"),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn policy_allows_configured_ranges() {
        let policy = TargetPolicy {
            allow_private: false,
            allowed: vec!["10.1.0.0/16".parse().unwrap()],
        };
        assert!(policy.check("10.1.2.3".parse().unwrap()).is_ok());
        assert_eq!(
            policy.check("10.2.0.1".parse().unwrap()),
            Err("private address 10.2.0.1".to_string())
        );
    }

    #[test]
    fn uri_rules() {
        assert!(WebhookUri::parse("https://example.com/hook").is_ok());
        assert_eq!(WebhookUri::parse(""), Err("Uri can't be blank"));
        assert_eq!(WebhookUri::parse("example.com/hook"), Err("Uri is invalid"));
        assert_eq!(
            WebhookUri::parse("ftp://example.com/"),
            Err("Uri must use http or https")
        );
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(WebhookUri::parse(&long).is_err());
    }

    #[test]
    fn odd_ipv4_spellings_are_normalised_to_literals() {
        for text in ["http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/"] {
            let uri = WebhookUri::parse(text).unwrap();
            assert_eq!(
                uri.literal_ip(),
                Some("127.0.0.1".parse().unwrap()),
                "{text}"
            );
        }
    }
}
