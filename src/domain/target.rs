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

/// IPv4 ranges of IANA's special-purpose registry that are not globally
/// reachable, with multicast and broadcast: `(first address, prefix length,
/// kind)`. Ranges the registry marks reachable (AS112, AMT) are not here.
const V4_REFUSED: [([u8; 4], u8, &str); 16] = [
    ([0, 0, 0, 0], 8, "unspecified"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "shared (CGNAT)"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "reserved"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "reserved (6to4 relay)"),
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "reserved (benchmarking)"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
    ([255, 255, 255, 255], 32, "broadcast"),
];

/// Addresses of 192.0.0.0/24 that IANA marks globally reachable (PCP and
/// TURN anycast); the rest of that block is refused.
const V4_IETF_REACHABLE: [Ipv4Addr; 2] =
    [Ipv4Addr::new(192, 0, 0, 9), Ipv4Addr::new(192, 0, 0, 10)];

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    if V4_IETF_REACHABLE.contains(&ip) {
        return None;
    }
    let bits = ip.to_bits();
    // The broadcast address is also in 240.0.0.0/4: the narrower range names it.
    V4_REFUSED
        .iter()
        .rev()
        .find(|(first, len, _)| in_prefix32(bits, u32::from_be_bytes(*first), *len))
        .map(|(_, _, kind)| *kind)
}

fn in_prefix32(bits: u32, first: u32, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    bits & mask == first & mask
}

fn in_prefix128(bits: u128, first: [u16; 8], len: u8) -> bool {
    let first = Ipv6Addr::new(
        first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7],
    )
    .to_bits();
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    bits & mask == first & mask
}

/// Blocks of 2001::/23 (IETF protocol assignments) that IANA marks
/// globally reachable; the rest of that block is refused.
const V6_IETF_REACHABLE: [([u16; 8], u8); 7] = [
    ([0x2001, 1, 0, 0, 0, 0, 0, 1], 128),
    ([0x2001, 1, 0, 0, 0, 0, 0, 2], 128),
    ([0x2001, 1, 0, 0, 0, 0, 0, 3], 128),
    ([0x2001, 3, 0, 0, 0, 0, 0, 0], 32),
    ([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48),
    ([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),
    ([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28),
];

/// Ranges of the global unicast block 2000::/3 that are not globally
/// reachable (2001::/23 is handled with its exceptions).
const V6_REFUSED_IN_GLOBAL: [([u16; 8], u8, &str); 3] = [
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "reserved (segment routing)",
    ),
];

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = ip.to_bits();
    let seg = ip.segments();
    let embedded_v4 = Ipv4Addr::from_bits(bits as u32);
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if in_prefix128(bits, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_prefix128(bits, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        // IPv4-mapped (::ffff:a.b.c.d) and well-known NAT64
        // (64:ff9b::a.b.c.d) forms reach the embedded IPv4 address.
        v4_kind(embedded_v4)
    } else if in_prefix128(bits, [0; 8], 96) {
        // IPv4-compatible (::a.b.c.d), deprecated: never a public target.
        v4_kind(embedded_v4).or(Some("reserved (IPv4-compatible)"))
    } else if seg[0] & 0xff00 == 0xff00 {
        Some("multicast")
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if seg[0] & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if seg[0] & 0xe000 != 0x2000 {
        // Outside the global unicast block 2000::/3 everything is reserved:
        // IPv4-translated ::ffff:0:a.b.c.d, local-use NAT64 64:ff9b:1::/48,
        // discard-only 100::/64, the dummy prefix 100:0:0:1::/64...
        Some("reserved")
    } else if seg[0] == 0x2002 {
        // 6to4 embeds an IPv4 address in bits 16..48.
        v4_kind(Ipv4Addr::from_bits((bits >> 80) as u32))
    } else if in_prefix128(bits, [0x2001, 0, 0, 0, 0, 0, 0, 0], 23)
        && !V6_IETF_REACHABLE
            .iter()
            .any(|(first, len)| in_prefix128(bits, *first, *len))
    {
        // Teredo, benchmarking, ORCHID and the rest of the IETF's block.
        Some("reserved")
    } else {
        V6_REFUSED_IN_GLOBAL
            .iter()
            .find(|(first, len, _)| in_prefix128(bits, *first, *len))
            .map(|(_, _, kind)| *kind)
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
    fn refuses_every_special_purpose_range_not_meant_for_global_reach() {
        for ip in [
            // IPv4-translated (::ffff:0:0/96), in each spelling.
            "::ffff:0:127.0.0.1",
            "::ffff:0:7f00:1",
            "0:0:0:0:ffff:0:7f00:1",
            "::ffff:0:8.8.8.8",
            // Local-use NAT64 (64:ff9b:1::/48), public IPv4 inside or not.
            "64:ff9b:1::8.8.8.8",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
            // Discard-only (100::/64) and the dummy prefix (100:0:0:1::/64).
            "100::",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::1",
            // The rest of IANA's registry.
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff:ffff::1",
            "5f00::1",
            "fec0::1",
            "::2",
            "::0.0.0.2",
            "4000::1",
            "192.0.0.8",
            "192.0.0.11",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
            "255.255.255.255",
            "240.0.0.1",
            "203.0.113.9",
            "198.51.100.1",
            "192.0.2.1",
            "0.1.2.3",
        ] {
            assert!(kind(ip).is_some(), "{ip} passed");
        }
    }

    #[test]
    fn reachable_blocks_inside_special_ranges_pass() {
        for ip in [
            "64:ff9b::8.8.8.8",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2620:4f:8000::1",
            "2002:808:808::1",
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "192.0.0.9",
            "192.0.0.10",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
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
