//! Fetching what a file or a server named (a manifest's image URLs, an AI
//! provider's image URL): from public addresses only. Without this, a
//! manifest could make Outbox read from this computer (127.0.0.1), the
//! local network, or a cloud's metadata service (169.254.169.254) and queue
//! what it answered: server-side request forgery.
//!
//! Names are checked where they are resolved (a DNS resolver that keeps only
//! public addresses, so a name cannot be switched to a private address
//! between a check and the connection), and literal addresses before the
//! request (reqwest asks no resolver for them). Redirects stay on the same
//! host (`same_origin_redirects`), so they go through the same resolver.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether an address is on the public internet: not this computer, not a
/// private, shared or link-local network, not multicast or reserved.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10, and the old site-local, fec0::/10.
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && s[1] == 0x0db8)
        // Teredo, 2001::/32: its client address is hidden inside.
        || (first == 0x2001 && s[1] == 0)
        // Local-use NAT64, 64:ff9b:1::/48: a network's own translator.
        || (first == 0x64 && s[1] == 0xff9b && s[2] == 1))
}

/// The IPv4 address an IPv6 one reaches through a translator or tunnel:
/// NAT64 (64:ff9b::/96), 6to4 (2002::/16) and the old IPv4-compatible form
/// (::a.b.c.d). A private address must not pass as its IPv6 spelling.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        // Not :: and ::1, which are this computer's own.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(v4(hi, lo)),
        _ => None,
    }
}

/// Why an address is refused, in words a user can act on.
pub(crate) fn refusal(host: &str, ip: IpAddr) -> String {
    format!(
        "{host} is {ip}, an address on this computer or a private network; Outbox fetches \
         images named in a file or by a server only from public addresses"
    )
}

/// A URL whose host is a literal address must name a public one.
pub(crate) fn check_literal(url: &reqwest::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or("");
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return Ok(());
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(refusal(&ip.to_string(), ip))
    }
}

/// A resolver that answers a name's public addresses only.
pub(crate) struct PublicOnly;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotPublic(String);

/// The refusal behind a failed request, if the resolver refused its host.
pub(crate) fn refused(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(not) = err.downcast_ref::<NotPublic>() {
            return Some(not.0.clone());
        }
        source = err.source();
    }
    None
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let refused = found.iter().find(|a| !is_public(a.ip())).map(|a| a.ip());
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            match (public.is_empty(), refused) {
                (false, _) => Ok(Box::new(public.into_iter()) as Addrs),
                (true, Some(ip)) => Err(NotPublic(refusal(&host, ip)).into()),
                (true, None) => Err(NotPublic(format!("{host} has no address")).into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            // The same private addresses through NAT64, 6to4, the old
            // IPv4-compatible form; site-local, Teredo, local-use NAT64.
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:c0a8:10a::1",
            "2002:7f00:1::",
            "::10.0.0.1",
            "fec0::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::808:808",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!is_public(ip), "{private} passed");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} refused");
        }
    }

    #[test]
    fn literal_hosts_are_checked_and_names_left_to_the_resolver() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(
            check_literal(&url("http://169.254.169.254/latest/meta-data"))
                .unwrap_err()
                .contains("169.254.169.254")
        );
        assert!(check_literal(&url("http://[::1]:8080/x.png")).is_err());
        assert!(check_literal(&url("https://1.1.1.1/x.png")).is_ok());
        assert!(check_literal(&url("https://images.example.com/x.png")).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_of_this_computer() {
        let err = match PublicOnly.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("localhost is"), "{err}");
        assert!(err.contains("public addresses"), "{err}");
    }
}
