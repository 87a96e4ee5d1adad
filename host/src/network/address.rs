//! Which IP addresses agentx may connect to on someone else's behalf (webhooks, plugins'
//! outbound HTTP), so that it cannot be aimed at its own network (SSRF).
//!
//! The tables mirror the IANA IPv4 and IPv6 special-purpose address registries, plus
//! multicast and the deprecated site-local block. Every range in them is refused, even
//! those IANA marks globally reachable (protocol anycasts, AS112 sinks, AMT, ORCHIDv2,
//! drone remote ID): none is a web server, and refusing by registry row leaves nothing to
//! argue about. IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible,
//! NAT64, 6to4, Teredo) are judged by the address they carry, since that is where the
//! packets end up; any other IPv6 address outside global unicast (2000::/3) is refused.
//!
//! Both the check of a URL when it is set and the resolver at connection time ask
//! [`refusal`], so the two can never disagree.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused: the special-purpose range it is in, and for an IPv6 address
/// carrying an IPv4 one, how it carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The range, as written in the registry (`169.254.0.0/16`).
    pub range: &'static str,
    /// What the range is for.
    pub purpose: &'static str,
    /// `Some("NAT64")` when the refused range is that of an embedded IPv4 address.
    pub embedded_by: Option<&'static str>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.purpose, self.range)?;
        if let Some(via) = self.embedded_by {
            write!(f, " embedded in a {via} address")?;
        }
        Ok(())
    }
}

/// Whether agentx may connect to `ip` for someone else.
pub fn is_public(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

/// Why agentx must not connect to `ip` for someone else, or `None` if it may.
pub fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

/// One row of a table: a prefix and what it is for.
struct Range {
    cidr: &'static str,
    purpose: &'static str,
    /// For IPv6: the IPv4 addresses the range carries, judged instead of the range itself.
    carries: Option<Carrier>,
}

/// How an IPv6 range carries IPv4 addresses.
#[derive(Clone, Copy)]
enum Carrier {
    /// In the last 32 bits (IPv4-mapped, IPv4-compatible, NAT64 well-known prefix).
    Last32,
    /// In bits 16–47 (6to4, RFC 3056).
    SixToFour,
    /// The server in bits 32–63 and the client, inverted, in the last 32 (Teredo, RFC 4380).
    Teredo,
}

const fn refuse(cidr: &'static str, purpose: &'static str) -> Range {
    Range {
        cidr,
        purpose,
        carries: None,
    }
}

const fn carrier(cidr: &'static str, purpose: &'static str, carries: Carrier) -> Range {
    Range {
        cidr,
        purpose,
        carries: Some(carries),
    }
}

/// The IANA IPv4 special-purpose registry, with multicast (not in it: it has its own).
const V4: &[Range] = &[
    refuse("0.0.0.0/8", "\"this network\""),
    refuse("0.0.0.0/32", "\"this host on this network\""),
    refuse("10.0.0.0/8", "private use"),
    refuse("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    refuse("127.0.0.0/8", "loopback"),
    refuse("169.254.0.0/16", "link-local"),
    refuse("172.16.0.0/12", "private use"),
    refuse("192.0.0.0/24", "IETF protocol assignments"),
    refuse("192.0.0.0/29", "IPv4 service continuity prefix"),
    refuse("192.0.0.8/32", "IPv4 dummy address"),
    refuse("192.0.0.9/32", "port control protocol anycast"),
    refuse("192.0.0.10/32", "TURN anycast"),
    refuse("192.0.0.170/32", "NAT64/DNS64 discovery"),
    refuse("192.0.0.171/32", "NAT64/DNS64 discovery"),
    refuse("192.0.2.0/24", "documentation (TEST-NET-1)"),
    refuse("192.31.196.0/24", "AS112 service"),
    refuse("192.52.193.0/24", "automatic multicast tunneling"),
    refuse("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    refuse("192.168.0.0/16", "private use"),
    refuse("192.175.48.0/24", "AS112 direct delegation"),
    refuse("198.18.0.0/15", "benchmarking"),
    refuse("198.51.100.0/24", "documentation (TEST-NET-2)"),
    refuse("203.0.113.0/24", "documentation (TEST-NET-3)"),
    refuse("224.0.0.0/4", "multicast"),
    refuse("240.0.0.0/4", "reserved"),
    refuse("255.255.255.255/32", "limited broadcast"),
];

/// The IANA IPv6 special-purpose registry, with multicast and the deprecated site-local
/// block (not in it: they are in the address space registry).
const V6: &[Range] = &[
    refuse("::/128", "unspecified"),
    refuse("::1/128", "loopback"),
    carrier("::/96", "IPv4-compatible", Carrier::Last32),
    carrier("::ffff:0:0/96", "IPv4-mapped", Carrier::Last32),
    carrier("64:ff9b::/96", "NAT64", Carrier::Last32),
    // RFC 8215 lets each network choose where in this prefix it puts the IPv4 address, so
    // nothing can be decoded reliably; IANA marks it not globally reachable anyway.
    refuse("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    refuse("100::/64", "discard-only"),
    refuse("100:0:0:1::/64", "dummy IPv6 prefix"),
    refuse("2001::/23", "IETF protocol assignments"),
    carrier("2001::/32", "Teredo", Carrier::Teredo),
    refuse("2001:1::1/128", "port control protocol anycast"),
    refuse("2001:1::2/128", "TURN anycast"),
    refuse("2001:1::3/128", "DNS-SD service registration anycast"),
    refuse("2001:2::/48", "benchmarking"),
    refuse("2001:3::/32", "automatic multicast tunneling"),
    refuse("2001:4:112::/48", "AS112-v6"),
    refuse("2001:10::/28", "deprecated ORCHID"),
    refuse("2001:20::/28", "ORCHIDv2"),
    refuse("2001:30::/28", "drone remote ID"),
    refuse("2001:db8::/32", "documentation"),
    carrier("2002::/16", "6to4", Carrier::SixToFour),
    refuse("2620:4f:8000::/48", "AS112 direct delegation"),
    refuse("3fff::/20", "documentation"),
    refuse("5f00::/16", "segment routing SIDs"),
    refuse("fc00::/7", "unique local"),
    refuse("fe80::/10", "link-local"),
    refuse("fec0::/10", "deprecated site-local"),
    refuse("ff00::/8", "multicast"),
];

/// Everything IPv6 that is routed on the internet is in here (outside it: reserved).
const GLOBAL_UNICAST: Range = refuse("2000::/3", "global unicast");
const OUTSIDE_GLOBAL_UNICAST: Refusal = Refusal {
    range: "outside 2000::/3",
    purpose: "reserved by the IETF",
    embedded_by: None,
};

impl Range {
    /// The prefix as (network bits, length), over `W` bits (32 or 128).
    fn prefix<const W: u32>(&self) -> (u128, u32) {
        let (net, len) = self
            .cidr
            .split_once('/')
            .expect("every range has a prefix length");
        let len: u32 = len.parse().expect("prefix lengths are numbers");
        let bits = if W == 32 {
            u128::from(u32::from(
                net.parse::<Ipv4Addr>().expect("IPv4 ranges are IPv4"),
            ))
        } else {
            u128::from(net.parse::<Ipv6Addr>().expect("IPv6 ranges are IPv6"))
        };
        (bits, len)
    }

    fn contains<const W: u32>(&self, address: u128) -> bool {
        let (net, len) = self.prefix::<W>();
        len == 0 || (address ^ net) >> (W - len) == 0
    }

    fn refusal(&self) -> Refusal {
        Refusal {
            range: self.cidr,
            purpose: self.purpose,
            embedded_by: None,
        }
    }
}

/// The most specific row of `table` containing `address`.
fn longest_match<const W: u32>(table: &'static [Range], address: u128) -> Option<&'static Range> {
    table
        .iter()
        .filter(|r| r.contains::<W>(address))
        .max_by_key(|r| r.prefix::<W>().1)
}

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    longest_match::<32>(V4, u128::from(u32::from(ip))).map(Range::refusal)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let bits = u128::from(ip);
    let Some(range) = longest_match::<128>(V6, bits) else {
        return (!GLOBAL_UNICAST.contains::<128>(bits)).then_some(OUTSIDE_GLOBAL_UNICAST);
    };
    let Some(carrier) = range.carries else {
        return Some(range.refusal());
    };
    // Truncations keep exactly the 32 bits each form puts the IPv4 address in.
    let carried = match carrier {
        Carrier::Last32 => vec![bits as u32],
        Carrier::SixToFour => vec![(bits >> 80) as u32],
        Carrier::Teredo => vec![(bits >> 64) as u32, !(bits as u32)],
    };
    carried
        .into_iter()
        .find_map(|v4| refusal_v4(Ipv4Addr::from(v4)))
        .map(|inner| Refusal {
            embedded_by: Some(range.purpose),
            ..inner
        })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every registry row, by an address in it, and the row (or embedded row) it is
    /// refused under. The first rows are the forms a security review got accepted.
    const REFUSED: &[(&str, &str, Option<&str>)] = &[
        // The review's examples.
        ("::7f00:1", "127.0.0.0/8", Some("IPv4-compatible")),
        ("::ffff:0:7f00:1", "reserved by the IETF", None),
        ("64:ff9b::a9fe:a9fe", "169.254.0.0/16", Some("NAT64")),
        ("2002:a9fe:a9fe::", "169.254.0.0/16", Some("6to4")),
        ("fec0::1", "fec0::/10", None),
        ("100::1", "100::/64", None),
        ("2001::1", "0.0.0.0/32", Some("Teredo")),
        ("192.88.99.1", "192.88.99.0/24", None),
        // IPv4 special-purpose registry, one row per range.
        ("0.1.2.3", "0.0.0.0/8", None),
        ("0.0.0.0", "0.0.0.0/32", None),
        ("10.1.2.3", "10.0.0.0/8", None),
        ("100.64.0.1", "100.64.0.0/10", None),
        ("100.127.255.254", "100.64.0.0/10", None),
        ("127.0.0.1", "127.0.0.0/8", None),
        ("127.255.255.254", "127.0.0.0/8", None),
        ("169.254.169.254", "169.254.0.0/16", None),
        ("172.16.0.1", "172.16.0.0/12", None),
        ("172.31.255.254", "172.16.0.0/12", None),
        ("192.0.0.100", "192.0.0.0/24", None),
        ("192.0.0.1", "192.0.0.0/29", None),
        ("192.0.0.8", "192.0.0.8/32", None),
        ("192.0.0.9", "192.0.0.9/32", None),
        ("192.0.0.10", "192.0.0.10/32", None),
        ("192.0.0.170", "192.0.0.170/32", None),
        ("192.0.0.171", "192.0.0.171/32", None),
        ("192.0.2.1", "192.0.2.0/24", None),
        ("192.31.196.1", "192.31.196.0/24", None),
        ("192.52.193.1", "192.52.193.0/24", None),
        ("192.88.99.254", "192.88.99.0/24", None),
        ("192.168.1.1", "192.168.0.0/16", None),
        ("192.175.48.1", "192.175.48.0/24", None),
        ("198.18.0.1", "198.18.0.0/15", None),
        ("198.19.255.254", "198.18.0.0/15", None),
        ("198.51.100.1", "198.51.100.0/24", None),
        ("203.0.113.1", "203.0.113.0/24", None),
        ("224.0.0.1", "224.0.0.0/4", None),
        ("239.255.255.250", "224.0.0.0/4", None),
        ("240.0.0.1", "240.0.0.0/4", None),
        ("255.255.255.255", "255.255.255.255/32", None),
        // IPv6 special-purpose registry, one row per range.
        ("::", "::/128", None),
        ("::1", "::1/128", None),
        ("::a00:1", "10.0.0.0/8", Some("IPv4-compatible")),
        ("::ffff:127.0.0.1", "127.0.0.0/8", Some("IPv4-mapped")),
        (
            "::ffff:169.254.169.254",
            "169.254.0.0/16",
            Some("IPv4-mapped"),
        ),
        ("::ffff:192.88.99.1", "192.88.99.0/24", Some("IPv4-mapped")),
        ("64:ff9b::127.0.0.1", "127.0.0.0/8", Some("NAT64")),
        ("64:ff9b::10.0.0.1", "10.0.0.0/8", Some("NAT64")),
        ("64:ff9b:1::8.8.8.8", "64:ff9b:1::/48", None),
        ("100::", "100::/64", None),
        ("100:0:0:1::1", "100:0:0:1::/64", None),
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "192.0.2.0/24",
            Some("Teredo"),
        ),
        ("2001:0:7f00:1:0:0:f7f7:f7f7", "127.0.0.0/8", Some("Teredo")),
        ("2001:1::1", "2001:1::1/128", None),
        ("2001:1::2", "2001:1::2/128", None),
        ("2001:1::3", "2001:1::3/128", None),
        ("2001:1::4", "2001::/23", None),
        ("2001:2::1", "2001:2::/48", None),
        ("2001:3::1", "2001:3::/32", None),
        ("2001:4:112::1", "2001:4:112::/48", None),
        ("2001:10::1", "2001:10::/28", None),
        ("2001:20::1", "2001:20::/28", None),
        ("2001:30::1", "2001:30::/28", None),
        ("2001:1ff::1", "2001::/23", None),
        ("2001:db8::1", "2001:db8::/32", None),
        ("2002:7f00:1::", "127.0.0.0/8", Some("6to4")),
        ("2002:c0a8:101::1", "192.168.0.0/16", Some("6to4")),
        ("2620:4f:8000::1", "2620:4f:8000::/48", None),
        ("3fff::1", "3fff::/20", None),
        ("3fff:fff::1", "3fff::/20", None),
        ("5f00::1", "5f00::/16", None),
        ("fc00::1", "fc00::/7", None),
        ("fd00::1", "fc00::/7", None),
        ("fe80::1", "fe80::/10", None),
        ("febf::1", "fe80::/10", None),
        ("fec0::1", "fec0::/10", None),
        ("feff::1", "fec0::/10", None),
        ("ff02::1", "ff00::/8", None),
        ("ff0e::1", "ff00::/8", None),
        // Outside global unicast, not in any registry row.
        ("1::1", "reserved by the IETF", None),
        ("4000::1", "reserved by the IETF", None),
        ("e000::1", "reserved by the IETF", None),
    ];

    /// Addresses on the internet, including IPv4 carried in IPv6 forms, and the first
    /// addresses just past a refused range.
    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.0",
        "172.32.0.1",
        "192.0.1.1",
        "192.88.100.1",
        "198.20.0.1",
        "223.255.255.254",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
        "3fff:1000::1",
        "::ffff:8.8.8.8",
        "::808:808",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        "2001:200::1",
    ];

    #[test]
    fn every_special_purpose_range_is_refused() {
        for &(address, range, embedded_by) in REFUSED {
            let ip: IpAddr = address.parse().expect(address);
            let refusal = refusal(ip).unwrap_or_else(|| panic!("{address} was accepted"));
            let named = if range.contains('/') {
                refusal.range
            } else {
                refusal.purpose
            };
            assert_eq!(named, range, "{address}: {refusal}");
            assert_eq!(refusal.embedded_by, embedded_by, "{address}: {refusal}");
            assert!(!is_public(ip));
        }
    }

    #[test]
    fn public_addresses_are_accepted() {
        for address in PUBLIC {
            let ip: IpAddr = address.parse().expect(address);
            assert_eq!(refusal(ip), None, "{address}");
        }
    }

    /// Each table's rows are well-formed prefixes (no host bits set), in the right family.
    #[test]
    fn tables_are_well_formed() {
        for (table, width) in [(V4, 32), (V6, 128)] {
            for range in table {
                let (net, len) = if width == 32 {
                    range.prefix::<32>()
                } else {
                    range.prefix::<128>()
                };
                assert!(len <= width, "{}", range.cidr);
                let host_bits = if len == width {
                    0
                } else {
                    net & (u128::MAX >> (128 - width + len))
                };
                assert_eq!(host_bits, 0, "{} has host bits set", range.cidr);
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        let ip: IpAddr = "64:ff9b::a9fe:a9fe".parse().unwrap();
        assert_eq!(
            refusal(ip).unwrap().to_string(),
            "link-local (169.254.0.0/16) embedded in a NAT64 address"
        );
    }

    /// Whether `ip` is special by an oracle that shares nothing with the tables: std's
    /// classifiers where they are stable, and the remaining registry blocks by their masks.
    pub(in crate::network) fn special_by_oracle(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => v4_special_by_oracle(v4),
            IpAddr::V6(v6) => v6_special_by_oracle(v6),
        }
    }

    /// The oracle's IPv4 blocks: those std classifies, then those it has no stable
    /// classifier for. Written out again rather than read from [`V4`], so that a row
    /// missing there shows here, and the address strategy aims at these too.
    const ORACLE_V4: &[([u8; 4], u32)] = &[
        ([10, 0, 0, 0], 8),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([192, 0, 2, 0], 24),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
        ([0, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([192, 0, 0, 0], 24),
        ([192, 31, 196, 0], 24),
        ([192, 52, 193, 0], 24),
        ([192, 88, 99, 0], 24),
        ([192, 175, 48, 0], 24),
        ([198, 18, 0, 0], 15),
        ([240, 0, 0, 0], 4),
    ];

    fn v4_special_by_oracle(ip: Ipv4Addr) -> bool {
        let bits = u32::from(ip);
        let within =
            |net: [u8; 4], len: u32| u64::from(bits ^ u32::from_be_bytes(net)) >> (32 - len) == 0;
        ip.is_private()
            || ip.is_loopback()
            || ip.is_link_local()
            || ip.is_broadcast()
            || ip.is_documentation()
            || ip.is_multicast()
            || ip.is_unspecified()
            || ORACLE_V4.iter().any(|&(net, len)| within(net, len))
    }

    fn v6_special_by_oracle(ip: Ipv6Addr) -> bool {
        let s = ip.segments();
        // The forms that carry an IPv4 address in their last 32 bits are as special as it.
        if let Some(v4) = ip.to_ipv4_mapped().or_else(|| ip.to_ipv4()) {
            return ip.is_unspecified() || ip.is_loopback() || v4_special_by_oracle(v4);
        }
        if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            return v4_special_by_oracle(Ipv4Addr::from(u128::from(ip) as u32));
        }
        if s[..2] == [0x2001, 0] {
            let server = Ipv4Addr::from((u128::from(ip) >> 64) as u32);
            let client = Ipv4Addr::from(!(u128::from(ip) as u32));
            return v4_special_by_oracle(server) || v4_special_by_oracle(client);
        }
        if s[0] == 0x2002 {
            return v4_special_by_oracle(Ipv4Addr::new(
                (s[1] >> 8) as u8,
                s[1] as u8,
                (s[2] >> 8) as u8,
                s[2] as u8,
            ));
        }
        ip.is_multicast()
            || ip.is_unique_local()
            || ip.is_unicast_link_local()
            || s[0] & 0xe000 != 0x2000
            || (s[0] == 0x2001 && s[1] < 0x200)
            || (s[0] == 0x2001 && s[1] == 0xdb8)
            || (s[0] == 0x3fff && s[1] < 0x1000)
    }

    fn prefixes<const W: u32>(table: &[Range]) -> Vec<(u128, u32)> {
        table.iter().map(Range::prefix::<W>).collect()
    }

    /// IPv4 addresses spread over the whole space, and concentrated at the edges of the
    /// special blocks, where an off-by-one in a prefix length would show.
    fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
        let oracle = ORACLE_V4
            .iter()
            .map(|&(net, len)| (u128::from(u32::from_be_bytes(net)), len));
        let blocks: Vec<(u128, u32)> = prefixes::<32>(V4).into_iter().chain(oracle).collect();
        let host_bits = |len: u32| u32::MAX.checked_shr(len).unwrap_or(0);
        let edges = blocks
            .iter()
            .flat_map(|&(net, len)| {
                let (first, last) = (net as u32, net as u32 | host_bits(len));
                [first, last, first.wrapping_sub(1), last.wrapping_add(1)]
            })
            .collect::<Vec<_>>();
        prop_oneof![
            any::<u32>(),
            prop::sample::select(edges),
            (prop::sample::select(blocks), any::<u32>())
                .prop_map(move |((net, len), noise)| net as u32 | noise & host_bits(len)),
        ]
        .prop_map(Ipv4Addr::from)
    }

    /// IPv6 addresses: anywhere, inside each special block, and IPv4 addresses in each
    /// carrying form.
    fn any_v6() -> impl Strategy<Value = Ipv6Addr> {
        let in_block = (prop::sample::select(prefixes::<128>(V6)), any::<u128>())
            .prop_map(|((net, len), noise)| net | noise.checked_shr(len).unwrap_or(0));
        let carried = (any_v4(), 0..4u8, any::<u128>()).prop_map(|(v4, form, noise)| {
            let v4 = u128::from(u32::from(v4));
            match form {
                0 => v4,                                     // IPv4-compatible
                1 => 0xffff << 32 | v4,                      // IPv4-mapped
                2 => 0x64_ff9b << 96 | v4,                   // NAT64
                _ => 0x2002 << 112 | v4 << 80 | noise >> 48, // 6to4
            }
        });
        let global = any::<u128>().prop_map(|noise| 0x2000 << 112 | noise >> 3);
        prop_oneof![any::<u128>(), in_block, carried, global].prop_map(Ipv6Addr::from)
    }

    proptest! {
        /// An accepted address is special by no measure of the oracle, and a refused one
        /// says why; no address panics the classifier.
        #[test]
        fn accepted_v4_addresses_are_public_by_the_oracle(ip in any_v4()) {
            let ip = IpAddr::V4(ip);
            prop_assert_eq!(refusal(ip).is_none(), !special_by_oracle(ip), "{}", ip);
        }

        #[test]
        fn accepted_v6_addresses_are_public_by_the_oracle(ip in any_v6()) {
            let ip = IpAddr::V6(ip);
            if refusal(ip).is_none() {
                prop_assert!(!special_by_oracle(ip), "{} accepted", ip);
            }
        }
    }
}
