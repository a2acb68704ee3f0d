//! Who the end user is (SPEC §3): the TCP peer, unless the peer is a trusted
//! proxy; then the configured forwarding header, walked from the right.
//!
//! Never `ConnectionInfo::realip_remote_addr()`: it believes any header, so a
//! client could pick the address Auth0's brute-force protection blocks.

use std::net::{IpAddr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use ipnet::IpNet;

use crate::error::ApiError;
use crate::settings::ClientIpHeader;

/// The resolved end-user address of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// What the extractor needs; stored as app data by `startup`.
#[derive(Debug, Clone)]
pub struct ClientIpConfig {
    pub trusted_proxies: Vec<IpNet>,
    pub header: ClientIpHeader,
}

impl ClientIpConfig {
    pub fn resolve_request(&self, req: &HttpRequest) -> IpAddr {
        let peer = peer_ip(req);
        if self.trusted_proxies.is_empty() {
            return peer;
        }
        // Several header lines are one list, in order (RFC 9110 §5.3). Bytes,
        // not `to_str`: a non-ASCII entry a client sent must not cost the
        // entries its proxy appended to the same line.
        let mut joined: Vec<u8> = Vec::new();
        for line in req.headers().get_all(self.header.header_name()) {
            if !joined.is_empty() {
                joined.push(b',');
            }
            joined.extend_from_slice(line.as_bytes());
        }
        resolve(peer, &joined, self.header, &self.trusted_proxies)
    }
}

impl ClientIpConfig {
    /// The gateway's own origin as this request names it (SPEC §13, for
    /// §10's CSRF rule): `Host` (or the HTTP/2 authority) and the
    /// connection's scheme; only when the TCP peer is a trusted proxy, the
    /// forwarding headers of the family `client_ip_header` names
    /// (`X-Forwarded-Host` / `X-Forwarded-Proto`, or `Forwarded`'s `host=` /
    /// `proto=`), rightmost value. Anyone else's forwarding headers would
    /// let a foreign page name itself the gateway.
    pub fn own_origin(&self, req: &HttpRequest) -> Option<String> {
        let peer = peer_ip(req);
        let forwarded = if self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            forwarded_host_and_proto(req.headers(), self.header)
        } else {
            (None, None)
        };
        let host = match forwarded.0 {
            Some(host) => host,
            None => req
                .headers()
                .get(actix_web::http::header::HOST)
                .and_then(|value| value.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()))?
                .to_string(),
        };
        let scheme = forwarded.1.unwrap_or_else(|| {
            let scheme = if req.app_config().secure() {
                "https"
            } else {
                "http"
            };
            scheme.to_string()
        });
        Some(format!("{scheme}://{host}").to_ascii_lowercase())
    }
}

/// The rightmost `host` and `proto` a trusted proxy forwarded.
fn forwarded_host_and_proto(
    headers: &actix_web::http::header::HeaderMap,
    kind: ClientIpHeader,
) -> (Option<String>, Option<String>) {
    let rightmost = |name: &str| {
        let line = headers.get_all(name).last()?.to_str().ok()?;
        let value = line.rsplit(',').next()?.trim();
        (!value.is_empty()).then(|| value.to_string())
    };
    match kind {
        ClientIpHeader::XForwardedFor => (
            rightmost("x-forwarded-host"),
            rightmost("x-forwarded-proto"),
        ),
        ClientIpHeader::Forwarded => {
            let parameter = |wanted: &str| {
                let lines: Vec<&str> = headers
                    .get_all("forwarded")
                    .filter_map(|line| line.to_str().ok())
                    .collect();
                lines.iter().rev().find_map(|line| {
                    line.rsplit(',').find_map(|element| {
                        element.split(';').find_map(|pair| {
                            let (name, value) = pair.split_once('=')?;
                            let value = value.trim().trim_matches('"');
                            (name.trim().eq_ignore_ascii_case(wanted) && !value.is_empty())
                                .then(|| value.to_string())
                        })
                    })
                })
            };
            (parameter("host"), parameter("proto"))
        }
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The front-door middleware resolves it once per request.
        if let Some(ip) = req.extensions().get::<ClientIp>() {
            return std::future::ready(Ok(*ip));
        }
        let ip = match req.app_data::<ClientIpConfig>() {
            Some(config) => config.resolve_request(req),
            None => peer_ip(req),
        };
        std::future::ready(Ok(ClientIp(ip)))
    }
}

/// The TCP peer; actix has none only for requests built in memory.
fn peer_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|addr| addr.ip().to_canonical())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The pure rule of SPEC §3. `header` is the joined header value (empty if
/// absent), as bytes: entries are split at commas byte by byte, and an entry
/// that is not visible ASCII is one unparseable entry.
pub fn resolve(peer: IpAddr, header: &[u8], kind: ClientIpHeader, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut last_good = peer;
    for entry in header.rsplit(|b| *b == b',') {
        let parsed = visible_ascii(entry).and_then(|entry| match kind {
            ClientIpHeader::XForwardedFor => parse_xff_entry(entry),
            ClientIpHeader::Forwarded => parse_forwarded_element(entry),
        });
        let Some(ip) = parsed else {
            // Garbage in the chain: everything left of it is unverifiable.
            return last_good;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        last_good = ip;
    }
    last_good
}

/// An entry as text when it is visible ASCII (spaces and tabs allowed).
fn visible_ascii(entry: &[u8]) -> Option<&str> {
    entry
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\t')
        .then(|| std::str::from_utf8(entry).ok())
        .flatten()
}

/// One `X-Forwarded-For` entry: an address, optionally with a port.
fn parse_xff_entry(entry: &str) -> Option<IpAddr> {
    parse_node(entry.trim())
}

/// One RFC 7239 element (`for=...;proto=...`): its `for` parameter.
fn parse_forwarded_element(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim())
    })?;
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    parse_node(value)
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
/// Obfuscated identifiers (`_hidden`) and `unknown` are not addresses.
fn parse_node(text: &str) -> Option<IpAddr> {
    if text.is_empty() {
        return None;
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientIpHeader::{Forwarded, XForwardedFor};

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("test CIDR")).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// (name, peer, header, kind, trusted, expected)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        ClientIpHeader,
        &'a [IpNet],
        &'a str,
    );

    #[test]
    fn resolves_the_client_ip_per_spec_table() {
        let proxies = nets(&["10.0.0.0/8", "fd00::/8"]);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // (name, peer, header, kind, trusted, expected)
            ("untrusted peer, no header", "203.0.113.7", "", XForwardedFor, &proxies, "203.0.113.7"),
            ("untrusted peer ignores a spoofed XFF", "203.0.113.7", "1.1.1.1", XForwardedFor, &proxies, "203.0.113.7"),
            ("no trusted proxies configured", "10.0.0.1", "1.1.1.1", XForwardedFor, &[], "10.0.0.1"),
            ("trusted peer, one client", "10.0.0.1", "198.51.100.4", XForwardedFor, &proxies, "198.51.100.4"),
            ("spoofed leftmost entry is ignored", "10.0.0.1", "6.6.6.6, 198.51.100.4", XForwardedFor, &proxies, "198.51.100.4"),
            ("trusted hops are skipped", "10.0.0.1", "198.51.100.4, 10.1.1.1, 10.2.2.2", XForwardedFor, &proxies, "198.51.100.4"),
            ("all hops trusted: leftmost trusted", "10.0.0.1", "10.9.9.9, 10.1.1.1", XForwardedFor, &proxies, "10.9.9.9"),
            ("trusted peer, empty header", "10.0.0.1", "", XForwardedFor, &proxies, "10.0.0.1"),
            ("garbage right after peer stops at peer", "10.0.0.1", "198.51.100.4, garbage", XForwardedFor, &proxies, "10.0.0.1"),
            ("garbage further left stops at last good", "10.0.0.1", "garbage, 10.3.3.3", XForwardedFor, &proxies, "10.3.3.3"),
            ("garbage left of client is never reached", "10.0.0.1", "garbage, 198.51.100.4", XForwardedFor, &proxies, "198.51.100.4"),
            ("ipv4 with port", "10.0.0.1", "198.51.100.4:5555", XForwardedFor, &proxies, "198.51.100.4"),
            ("ipv6 client", "10.0.0.1", "2001:db8::7", XForwardedFor, &proxies, "2001:db8::7"),
            ("bracketed ipv6 with port in XFF", "10.0.0.1", "[2001:db8::7]:443", XForwardedFor, &proxies, "2001:db8::7"),
            ("ipv6 trusted peer", "fd00::1", "198.51.100.4", XForwardedFor, &proxies, "198.51.100.4"),
            ("ipv4-mapped peer is canonical", "::ffff:10.0.0.1", "198.51.100.4", XForwardedFor, &proxies, "198.51.100.4"),
            ("ipv4-mapped untrusted peer", "::ffff:203.0.113.7", "", XForwardedFor, &proxies, "203.0.113.7"),
            ("empty entry is garbage", "10.0.0.1", "198.51.100.4,,10.1.1.1", XForwardedFor, &proxies, "10.1.1.1"),
            ("forwarded simple", "10.0.0.1", "for=198.51.100.4", Forwarded, &proxies, "198.51.100.4"),
            ("forwarded quoted ipv6 with port", "10.0.0.1", "for=\"[2001:db8:cafe::17]:4711\"", Forwarded, &proxies, "2001:db8:cafe::17"),
            ("forwarded with other params and case", "10.0.0.1", "proto=https;For=198.51.100.4;by=10.0.0.1", Forwarded, &proxies, "198.51.100.4"),
            ("forwarded spoofed leftmost", "10.0.0.1", "for=6.6.6.6, for=198.51.100.4, for=10.2.2.2", Forwarded, &proxies, "198.51.100.4"),
            ("forwarded obfuscated stops", "10.0.0.1", "for=198.51.100.4, for=_hidden", Forwarded, &proxies, "10.0.0.1"),
            ("forwarded unknown stops at last good", "10.0.0.1", "for=unknown, for=10.2.2.2", Forwarded, &proxies, "10.2.2.2"),
            ("forwarded element without for is garbage", "10.0.0.1", "proto=https", Forwarded, &proxies, "10.0.0.1"),
            ("forwarded quoted ipv4 with port", "10.0.0.1", "for=\"198.51.100.4:80\"", Forwarded, &proxies, "198.51.100.4"),
            ("XFF syntax in forwarded mode is garbage", "10.0.0.1", "198.51.100.4", Forwarded, &proxies, "10.0.0.1"),
            ("forwarded syntax in XFF mode is garbage", "10.0.0.1", "for=198.51.100.4", XForwardedFor, &proxies, "10.0.0.1"),
            ("single trusted host CIDR", "127.0.0.1", "198.51.100.4", XForwardedFor, &nets(&["127.0.0.1/32"]), "198.51.100.4"),
            ("non-ASCII entry left of the client costs nothing", "10.0.0.1", "caf\u{e9}, 198.51.100.5", XForwardedFor, &proxies, "198.51.100.5"),
            ("non-ASCII entry right of the client stops the walk", "10.0.0.1", "198.51.100.5, caf\u{e9}", XForwardedFor, &proxies, "10.0.0.1"),
            ("non-ASCII entry among trusted hops stops at last good", "10.0.0.1", "198.51.100.5, caf\u{e9}, 10.1.1.1", XForwardedFor, &proxies, "10.1.1.1"),
            ("control byte is an unparseable entry", "10.0.0.1", "6.6.6.6\u{1}, 198.51.100.5", XForwardedFor, &proxies, "198.51.100.5"),
            ("forwarded non-ASCII element left of the client", "10.0.0.1", "for=caf\u{e9}, for=198.51.100.5", Forwarded, &proxies, "198.51.100.5"),
        ];
        for (name, peer, header, kind, trusted, expected) in cases {
            assert_eq!(
                resolve(ip(peer), header.as_bytes(), *kind, trusted),
                ip(expected),
                "case: {name}"
            );
        }
        assert!(cases.len() >= 20);
    }
}
