//! The client's address: the TCP peer, unless the peer is a trusted proxy; then the
//! rightmost address in the configured forwarding header (`X-Forwarded-For` or
//! `Forwarded`) that is not itself a trusted proxy. Anything to the left of that was
//! written by the client and proves nothing, so a spoofed header from an untrusted peer
//! changes nothing.
//!
//! Exactly one header is read, the one the operator names (`forwarded_header`): a proxy
//! rewrites the header it knows and passes the other through from the client untouched, so
//! a fallback from one to the other (as before) let a client behind a `Forwarded`-writing
//! proxy choose its address with `X-Forwarded-For`.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::config::ForwardedHeader;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { networks, header }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.contains(ip)
    }

    /// The client address for a request that arrived from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded(headers),
        };
        let mut client = peer;
        // Walk from the nearest hop outwards while the hops are our own proxies.
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = canonical(*ip);
                    if !self.contains(client) {
                        return client;
                    }
                }
                // A hop we cannot read: stop at the last address we could trust.
                None => return client,
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The key rate limits count under: the address itself for IPv4, its /64 for IPv6 (one
/// subscriber usually holds a whole /64 and could otherwise rotate through it).
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The hops of `X-Forwarded-For` (all such headers, in order); `None` for a hop that is
/// not an address (`unknown`, junk).
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap_or("?")
                .split(',')
                .map(|s| parse_hop(s.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `for=` parameters of `Forwarded` (RFC 7239; all such headers, in order); `None` for
/// a hop that is not an address (`unknown`, obfuscated, missing, junk).
fn forwarded(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap_or("?")
                .split(',')
                .map(|element| {
                    element
                        .split(';')
                        .find_map(|pair| {
                            let (key, value) = pair.trim().split_once('=')?;
                            key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
                        })
                        .and_then(parse_hop)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:443`, optionally quoted.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim_matches('"');
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter().filter_map(|n| n.parse().ok()).collect(),
            ForwardedHeader::XForwardedFor,
        )
    }

    fn forwarded_proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies {
            header: ForwardedHeader::Forwarded,
            ..proxies(list)
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "9.9.9.9"), ("forwarded", "for=8.8.8.8")]);
        assert_eq!(
            proxies(&[]).client_ip(ip("203.0.113.7"), &h),
            ip("203.0.113.7")
        );
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client_ip(ip("203.0.113.7"), &h),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        // The client forged "1.1.1.1"; the first proxy appended the real client, the second proxy.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.4, 10.0.0.5")]);
        assert_eq!(p.client_ip(ip("10.0.0.9"), &h), ip("198.51.100.4"));
        let split = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.4"),
        ]);
        assert_eq!(p.client_ip(ip("10.0.0.9"), &split), ip("198.51.100.4"));
    }

    #[test]
    fn forwarded_is_read_when_configured_and_x_forwarded_for_then_ignored() {
        let p = forwarded_proxies(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            r#"for=1.1.1.1, for="[2001:db8::17]:4711";proto=https"#,
        )]);
        assert_eq!(p.client_ip(ip("10.1.2.3"), &h), ip("2001:db8::17"));
        let both = headers(&[
            ("x-forwarded-for", "9.9.9.9"),
            ("forwarded", "for=198.51.100.4"),
        ]);
        assert_eq!(p.client_ip(ip("10.1.2.3"), &both), ip("198.51.100.4"));
        let xff_only = headers(&[("x-forwarded-for", "9.9.9.9")]);
        assert_eq!(p.client_ip(ip("10.1.2.3"), &xff_only), ip("10.1.2.3"));
    }

    #[test]
    fn x_forwarded_for_never_falls_back_to_forwarded() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=198.51.100.4")]);
        assert_eq!(p.client_ip(ip("10.1.2.3"), &h), ip("10.1.2.3"));
    }

    #[test]
    fn junk_hops_stop_the_walk_at_the_last_trusted_address() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.4, unknown, 10.0.0.5")]);
        assert_eq!(p.client_ip(ip("10.0.0.9"), &h), ip("10.0.0.5"));
        assert_eq!(
            p.client_ip(ip("10.0.0.9"), &HeaderMap::new()),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            rate_key(ip("2001:db8:1:2:aaaa::1")),
            rate_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            rate_key(ip("2001:db8:1:2::1")),
            rate_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(rate_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
