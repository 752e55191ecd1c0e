//! Who is on the other end of a request: the TCP peer, or — when the peer is
//! a configured trusted proxy — the client named in its `X-Forwarded-*`
//! headers. Headers from any other peer are ignored, since anyone can send
//! them.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use ipnet::IpNet;
use tokio::net::TcpListener;

use super::tls::TlsListener;

/// The connection a request arrived on; set by the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    /// Whether this server terminated TLS on the connection.
    pub tls: bool,
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self {
            addr: *stream.remote_addr(),
            tls: false,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self {
            addr: *stream.remote_addr(),
            tls: true,
        }
    }
}

/// The client as far as we can tell; a request extension for logs and for
/// building URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address (unknown when the router runs without a listener).
    pub ip: Option<IpAddr>,
    /// `https` or `http`, as the client used it.
    pub scheme: &'static str,
    /// `host[:port]` the client asked for, validated.
    pub host: Option<String>,
    /// True when the values came from a trusted proxy's headers.
    pub via_proxy: bool,
}

/// The parsed `server.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Parses the config list; entries were validated at startup, so a bad
    /// one (impossible after `Config::load`) is skipped rather than trusted.
    pub fn from_config(entries: &[String]) -> Self {
        let nets = entries
            .iter()
            .filter_map(|e| crate::config::tls::parse_trusted_proxies(std::slice::from_ref(e)).ok())
            .flatten()
            .collect();
        Self(nets)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Middleware: computes [`ClientInfo`] once per request.
pub async fn client_info(
    State(trusted): State<Arc<TrustedProxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0);
    let info = resolve(peer, req.uri(), req.headers(), &trusted);
    req.extensions_mut().insert(info);
    next.run(req).await
}

/// The pure part of [`client_info`].
pub fn resolve(
    peer: Option<Peer>,
    uri: &Uri,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> ClientInfo {
    // HTTP/2 carries the host in `:authority`, HTTP/1.1 in `Host`.
    let direct_host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| last_value(headers, header::HOST.as_str()))
        .and_then(|h| valid_host(&h));
    let mut info = ClientInfo {
        ip: peer.map(|p| p.addr.ip().to_canonical()),
        scheme: if peer.is_some_and(|p| p.tls) {
            "https"
        } else {
            "http"
        },
        host: direct_host,
        via_proxy: false,
    };
    let Some(peer_ip) = info.ip else {
        return info;
    };
    if !trusted.contains(peer_ip) {
        return info;
    }
    if let Some(client) = forwarded_for(headers, trusted) {
        info.ip = Some(client);
        info.via_proxy = true;
    }
    match last_value(headers, "x-forwarded-proto")
        .map(|p| p.to_ascii_lowercase())
        .as_deref()
    {
        Some("https") => {
            info.scheme = "https";
            info.via_proxy = true;
        }
        Some("http") => {
            info.scheme = "http";
            info.via_proxy = true;
        }
        _ => {}
    }
    if let Some(host) = last_value(headers, "x-forwarded-host").and_then(|h| valid_host(&h)) {
        info.host = Some(host);
        info.via_proxy = true;
    }
    info
}

/// Walks `X-Forwarded-For` from the right (the hop nearest to us) past our
/// own trusted proxies; the first other address is the client. Entries left
/// of it were written by the client itself and are not believed.
fn forwarded_for(headers: &HeaderMap, trusted: &TrustedProxies) -> Option<IpAddr> {
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return None;
        };
        hops.extend(text.split(',').map(str::trim));
    }
    let mut nearest_trusted = None;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage from an untrusted hop: stop at the last address we trust.
            return nearest_trusted;
        };
        if !trusted.contains(ip) {
            return Some(ip);
        }
        nearest_trusted = Some(ip);
    }
    nearest_trusted
}

/// `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443` or `1.2.3.4:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(ip.to_canonical());
    }
    SocketAddr::from_str(hop)
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// The last comma-separated item of the last header with this name: the
/// value written by the proxy nearest to us.
fn last_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let item = value.rsplit(',').next()?.trim();
    (!item.is_empty()).then(|| item.to_owned())
}

/// A `host[:port]` without user info, path or odd characters.
fn valid_host(text: &str) -> Option<String> {
    let authority = Authority::from_str(text).ok()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    Some(authority.as_str().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn peer(ip: &str, tls: bool) -> Option<Peer> {
        Some(Peer {
            addr: SocketAddr::new(ip.parse().expect("ip"), 40000),
            tls,
        })
    }

    fn trusted(list: &[&str]) -> TrustedProxies {
        TrustedProxies::from_config(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    const SPOOF: &[(&str, &str)] = &[
        ("host", "mcp.example.com"),
        ("x-forwarded-for", "198.51.100.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
    ];

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let info = resolve(
            peer("203.0.113.5", false),
            &Uri::from_static("/mcp"),
            &headers(SPOOF),
            &trusted(&["10.0.0.0/8"]),
        );
        assert_eq!(
            info,
            ClientInfo {
                ip: ip("203.0.113.5"),
                scheme: "http",
                host: Some("mcp.example.com".into()),
                via_proxy: false,
            }
        );
        // Nothing is trusted by default.
        let info = resolve(
            peer("127.0.0.1", true),
            &Uri::from_static("/mcp"),
            &headers(SPOOF),
            &TrustedProxies::default(),
        );
        assert_eq!(info.ip, ip("127.0.0.1"));
        assert_eq!(info.scheme, "https");
        assert_eq!(info.host.as_deref(), Some("mcp.example.com"));
    }

    #[test]
    fn trusted_peer_headers_are_used() {
        let info = resolve(
            peer("10.0.0.2", false),
            &Uri::from_static("/mcp"),
            &headers(SPOOF),
            &trusted(&["10.0.0.0/8"]),
        );
        assert_eq!(
            info,
            ClientInfo {
                ip: ip("198.51.100.9"),
                scheme: "https",
                host: Some("evil.example".into()),
                via_proxy: true,
            }
        );
    }

    #[test]
    fn forwarded_for_skips_trusted_hops_and_ignores_client_prefix() {
        let t = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        // The client claimed to be 1.1.1.1; our proxies appended the real
        // address (198.51.100.9) and an internal hop (10.0.0.7).
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.9"),
            ("x-forwarded-for", "10.0.0.7"),
        ]);
        let info = resolve(peer("127.0.0.1", false), &Uri::from_static("/"), &h, &t);
        assert_eq!(info.ip, ip("198.51.100.9"));

        // Every hop trusted: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.7")]);
        assert_eq!(
            resolve(peer("127.0.0.1", false), &Uri::from_static("/"), &h, &t).ip,
            ip("10.1.1.1")
        );

        // Garbage to the right of any trusted hop: keep the peer.
        let h = headers(&[("x-forwarded-for", "198.51.100.9, not-an-ip")]);
        assert_eq!(
            resolve(peer("127.0.0.1", false), &Uri::from_static("/"), &h, &t).ip,
            ip("127.0.0.1")
        );

        // Ports and IPv6 brackets as some proxies write them.
        let h = headers(&[("x-forwarded-for", "[2001:db8::7]:5000")]);
        assert_eq!(
            resolve(peer("127.0.0.1", false), &Uri::from_static("/"), &h, &t).ip,
            ip("2001:db8::7")
        );
    }

    #[test]
    fn bad_forwarded_values_are_ignored() {
        let t = trusted(&["127.0.0.1"]);
        let h = headers(&[
            ("host", "mcp.example.com:8443"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "user@evil.example"),
        ]);
        let info = resolve(peer("127.0.0.1", true), &Uri::from_static("/"), &h, &t);
        assert_eq!(info.scheme, "https");
        assert_eq!(info.host.as_deref(), Some("mcp.example.com:8443"));
        assert!(!info.via_proxy);
    }

    #[test]
    fn ipv4_mapped_peer_matches_ipv4_network() {
        let t = trusted(&["127.0.0.1"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        let info = resolve(
            peer("::ffff:127.0.0.1", false),
            &Uri::from_static("/"),
            &h,
            &t,
        );
        assert_eq!(info.ip, ip("198.51.100.9"));
    }

    #[test]
    fn http2_authority_is_the_host() {
        let info = resolve(
            peer("127.0.0.1", true),
            &Uri::from_static("https://mcp.example.com/mcp"),
            &HeaderMap::new(),
            &TrustedProxies::default(),
        );
        assert_eq!(info.host.as_deref(), Some("mcp.example.com"));
    }

    #[test]
    fn no_peer_means_unknown_client() {
        let info = resolve(
            None,
            &Uri::from_static("/"),
            &headers(SPOOF),
            &trusted(&["0.0.0.0/0"]),
        );
        assert_eq!(info.ip, None);
        assert!(!info.via_proxy);
    }
}
