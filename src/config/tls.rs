//! `[server.tls]`: HTTPS termination and the HTTP redirect/ACME listener,
//! plus the parsing of `server.trusted_proxies`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::FieldError;

/// Longest accepted `reload_interval_secs` (one day).
const MAX_RELOAD_INTERVAL_SECS: u64 = 86_400;

/// Lowest TLS version offered. Spelled like nginx's `ssl_protocols` (and not
/// `1.2`, which the environment provider would read as a float).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "TLSv1.2")]
    Tls12,
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

/// Certificate files and the optional HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Serve HTTPS on `server.bind` instead of plain HTTP.
    pub enabled: bool,
    /// PEM certificate chain, leaf first (certbot's `fullchain.pem`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) (certbot's `privkey.pem`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    pub min_version: TlsVersion,
    /// How often the files are checked for a renewed certificate; 0 turns
    /// polling off (SIGHUP still reloads).
    pub reload_interval_secs: u64,
    /// A plain-HTTP listener that only redirects to HTTPS and answers ACME
    /// HTTP-01 challenges, e.g. `0.0.0.0:80`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_redirect_bind: Option<String>,
    /// Port written into redirects; default: the port of `server.bind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_https_port: Option<u16>,
    /// certbot's `--webroot-path`: challenge files are served from
    /// `<acme_webroot>/.well-known/acme-challenge/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme_webroot: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            cert_file: None,
            key_file: None,
            min_version: TlsVersion::Tls12,
            reload_interval_secs: 60,
            http_redirect_bind: None,
            redirect_https_port: None,
            acme_webroot: None,
        }
    }
}

impl TlsConfig {
    /// Checks this section alone; keys in errors are relative to it. The
    /// files themselves are read when the server starts (and by `doctor`).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.enabled {
            if self.cert_file.is_none() {
                return Err(FieldError::new(
                    "cert_file",
                    "required when enabled = true: the PEM certificate chain, e.g. /etc/letsencrypt/live/mcp.example.com/fullchain.pem",
                ));
            }
            if self.key_file.is_none() {
                return Err(FieldError::new(
                    "key_file",
                    "required when enabled = true: the PEM private key, e.g. /etc/letsencrypt/live/mcp.example.com/privkey.pem",
                ));
            }
        }
        if self.reload_interval_secs > MAX_RELOAD_INTERVAL_SECS {
            return Err(FieldError::new(
                "reload_interval_secs",
                format!(
                    "{} is out of range (0 = off, or 1 ..= {MAX_RELOAD_INTERVAL_SECS})",
                    self.reload_interval_secs
                ),
            ));
        }
        if let Some(bind) = &self.http_redirect_bind {
            if !self.enabled {
                return Err(FieldError::new(
                    "http_redirect_bind",
                    "redirects to HTTPS need enabled = true (behind a reverse proxy, let the proxy redirect)",
                ));
            }
            bind.parse::<SocketAddr>().map_err(|_| {
                FieldError::new(
                    "http_redirect_bind",
                    format!("`{bind}` is not an IP:port address (example: 0.0.0.0:80)"),
                )
            })?;
        }
        if self.redirect_https_port == Some(0) {
            return Err(FieldError::new(
                "redirect_https_port",
                "must be 1 ..= 65535",
            ));
        }
        if self.http_redirect_bind.is_none() {
            for (key, set) in [
                ("acme_webroot", self.acme_webroot.is_some()),
                ("redirect_https_port", self.redirect_https_port.is_some()),
            ] {
                if set {
                    return Err(FieldError::new(
                        key,
                        "only used by the redirect listener: set http_redirect_bind too (e.g. \"0.0.0.0:80\")",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Parses `server.trusted_proxies`: IP addresses (`10.0.0.5`, `::1`) or
/// networks in CIDR notation (`10.0.0.0/8`).
pub fn parse_trusted_proxies(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|entry| {
            let text = entry.trim();
            if let Ok(ip) = text.parse::<IpAddr>() {
                return Ok(IpNet::from(ip));
            }
            text.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
                format!("`{entry}` is not an IP address or CIDR network (examples: 127.0.0.1, 10.0.0.0/8, fd00::/8)")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> TlsConfig {
        TlsConfig {
            enabled: true,
            cert_file: Some("/c.pem".into()),
            key_file: Some("/k.pem".into()),
            ..TlsConfig::default()
        }
    }

    #[test]
    fn defaults_are_valid_and_off() {
        let d = TlsConfig::default();
        assert!(!d.enabled);
        assert_eq!(d.min_version, TlsVersion::Tls12);
        assert_eq!(d.validate(), Ok(()));
        assert_eq!(enabled().validate(), Ok(()));
    }

    #[test]
    fn enabled_needs_both_files() {
        let mut c = enabled();
        c.cert_file = None;
        assert_eq!(c.validate().map_err(|e| e.key), Err("cert_file".into()));
        let mut c = enabled();
        c.key_file = None;
        assert_eq!(c.validate().map_err(|e| e.key), Err("key_file".into()));
    }

    #[test]
    fn redirect_listener_rules() {
        let mut c = enabled();
        c.http_redirect_bind = Some("0.0.0.0".into());
        let e = c.validate().expect_err("no port");
        assert_eq!(e.key, "http_redirect_bind");
        assert!(e.message.contains("0.0.0.0:80"), "{}", e.message);

        c.http_redirect_bind = Some("0.0.0.0:80".into());
        c.acme_webroot = Some("/var/www/acme".into());
        c.redirect_https_port = Some(443);
        assert_eq!(c.validate(), Ok(()));

        c.enabled = false;
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("http_redirect_bind".into())
        );

        let mut c = enabled();
        c.acme_webroot = Some("/var/www/acme".into());
        assert_eq!(c.validate().map_err(|e| e.key), Err("acme_webroot".into()));
        let mut c = enabled();
        c.redirect_https_port = Some(8443);
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("redirect_https_port".into())
        );
    }

    #[test]
    fn reload_interval_range() {
        let mut c = enabled();
        c.reload_interval_secs = 0;
        assert_eq!(c.validate(), Ok(()));
        c.reload_interval_secs = 86_401;
        assert_eq!(
            c.validate().map_err(|e| e.key),
            Err("reload_interval_secs".into())
        );
    }

    #[test]
    fn min_version_spelling() {
        #[derive(Deserialize)]
        struct W {
            v: TlsVersion,
        }
        let ok: W = toml::from_str("v = \"TLSv1.3\"").expect("1.3");
        assert_eq!(ok.v, TlsVersion::Tls13);
        let err = toml::from_str::<W>("v = \"TLSv1.1\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("TLSv1.2"), "{err}");
    }

    #[test]
    fn trusted_proxies_parse() {
        let nets = parse_trusted_proxies(&[
            "127.0.0.1".into(),
            " 10.1.2.3/8 ".into(),
            "fd00::/8".into(),
            "::1".into(),
        ])
        .expect("valid");
        assert_eq!(nets.len(), 4);
        assert!(nets[1].contains(&"10.200.0.1".parse::<IpAddr>().expect("ip")));
        assert!(!nets[0].contains(&"127.0.0.2".parse::<IpAddr>().expect("ip")));
        for bad in ["localhost", "10.0.0.0/33", "1.2.3.4:80", ""] {
            let err = parse_trusted_proxies(&[bad.into()]).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }
}
