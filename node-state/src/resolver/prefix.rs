//! Address prefixes compared the way the kernel compares them: `(addr ^ network) & mask == 0`,
//! with the mask computed once per rule or route rather than once per comparison. Addresses of
//! both families share one 128-bit form; callers only compare within one family.

use std::net::IpAddr;

use ipnet::IpNet;

/// An address as a number: IPv4 in the low 32 bits.
pub(super) fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A prefix ready for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Prefix {
    network: u128,
    mask: u128,
}

impl Prefix {
    pub(super) fn of(net: &IpNet) -> Self {
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let full = match net {
            IpNet::V4(_) => u128::from(u32::MAX),
            IpNet::V6(_) => u128::MAX,
        };
        // A /0 has no network bits; shifting by the full width would overflow.
        let mask = full
            .checked_shr(host_bits)
            .and_then(|m| m.checked_shl(host_bits))
            .unwrap_or(0);
        Prefix {
            network: bits(net.addr()) & mask,
            mask,
        }
    }

    /// `None` for a missing selector or a /0, which both select every address.
    pub(super) fn selector(net: Option<&IpNet>) -> Option<Self> {
        net.filter(|n| n.prefix_len() > 0).map(Prefix::of)
    }

    /// The network's address bits: for a host prefix, the address itself.
    pub(super) fn network(&self) -> u128 {
        self.network
    }

    pub(super) fn contains(&self, address: u128) -> bool {
        (address ^ self.network) & self.mask == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_like_ipnet() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("172.31.55.218/32", "172.31.55.218", true),
            ("172.31.55.218/32", "172.31.55.219", false),
            ("0.0.0.0/0", "203.0.113.1", true),
            ("10.1.2.3/16", "10.1.200.1", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "2606:4700:4700::1111", true),
            ("2600:1f18::a/128", "2600:1f18::a", true),
        ];
        for (net, ip, expected) in cases {
            let net: IpNet = net.parse().unwrap();
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(Prefix::of(&net).contains(bits(ip)), expected, "{net} {ip}");
            assert_eq!(net.contains(&ip), expected, "ipnet agrees on {net} {ip}");
        }
    }
}
