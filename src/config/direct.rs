//! `[database.direct]`: the direct mTLS backend (wallet, DSN, pool).
//!
//! Only shape and ranges are checked here; the files behind `wallet_dir`
//! and the DSN are checked by the backend's preflight
//! (`db::direct::wallet`), which `check-config` also runs.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{FieldError, Secret};

/// Wallet, DSN, credentials and pool sizing for the direct backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectConfig {
    /// The unzipped wallet directory: `tnsnames.ora` and `ewallet.pem`.
    /// Required for an alias DSN; without it TLS trusts the public CAs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_dir: Option<PathBuf>,
    /// Password chosen when the wallet was downloaded (decrypts the key in
    /// `ewallet.pem`); not needed for a wallet without a private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_password: Option<Secret>,
    /// A `tnsnames.ora` alias, a full connect descriptor, or Easy Connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// Database user (a least-privilege, read-only account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The database user's password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Connections opened in the background at startup.
    pub pool_min: usize,
    /// Most connections, hence most concurrent database calls.
    pub pool_max: usize,
    /// TCP connect timeout, and how long a call waits for a new session.
    pub connect_timeout_secs: u64,
    /// Upper bound for one database round trip (the tool's own deadline
    /// applies too; the smaller wins).
    pub call_timeout_secs: u64,
    /// How long a call waits for a free connection when all are busy.
    pub acquire_timeout_secs: u64,
    /// Rows per fetch round trip.
    pub fetch_array_size: u32,
}

impl Default for DirectConfig {
    fn default() -> Self {
        Self {
            wallet_dir: None,
            wallet_password: None,
            dsn: None,
            user: None,
            password: None,
            pool_min: 1,
            pool_max: 4,
            connect_timeout_secs: 15,
            call_timeout_secs: 60,
            acquire_timeout_secs: 10,
            fetch_array_size: 100,
        }
    }
}

/// What kind of connect string `dsn` is, decided the way the driver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnKind {
    /// `(DESCRIPTION=…)` or `(DESCRIPTION_LIST=…)`.
    Descriptor,
    /// `[tcps://]host[:port]/service`.
    EasyConnect,
    /// A name looked up in `tnsnames.ora`.
    Alias,
}

/// Classifies a DSN: descriptors start with `(`, Easy Connect strings have
/// a `/`, `:` or `//`; anything else is a tnsnames.ora alias.
pub fn dsn_kind(dsn: &str) -> DsnKind {
    let dsn = dsn.trim();
    if dsn.starts_with('(') {
        DsnKind::Descriptor
    } else if dsn.contains(['/', ':', '?']) {
        DsnKind::EasyConnect
    } else {
        DsnKind::Alias
    }
}

impl DirectConfig {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    pub fn call_timeout(&self) -> Duration {
        Duration::from_secs(self.call_timeout_secs)
    }
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.acquire_timeout_secs)
    }

    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        let required = |key: &str, what: &str| {
            FieldError::new(
                key,
                format!("required with database.backend = \"direct\": {what}"),
            )
        };
        let dsn = self
            .dsn
            .as_deref()
            .ok_or_else(|| required("dsn", "a tnsnames.ora alias such as \"mydb_low\""))?;
        check_dsn(dsn).map_err(|e| FieldError::new("dsn", e.to_string()))?;
        match &self.wallet_dir {
            None if dsn_kind(dsn) == DsnKind::Alias => {
                return Err(required(
                    "wallet_dir",
                    "the dsn is a tnsnames.ora alias, so the directory of the unzipped ADB wallet (tnsnames.ora, ewallet.pem) is needed",
                ));
            }
            Some(p) if p.as_os_str().is_empty() => {
                return Err(FieldError::new("wallet_dir", "must not be empty"));
            }
            _ => {}
        }
        let user = self
            .user
            .as_deref()
            .ok_or_else(|| required("user", "the database user to connect as"))?;
        if user.trim().is_empty() || user.contains(char::is_whitespace) {
            return Err(FieldError::new(
                "user",
                format!("`{user}` is not a database user name"),
            ));
        }
        if self.password.is_none() {
            return Err(required(
                "password",
                "the database user's password, e.g. { env = \"ADB_PASSWORD\" }",
            ));
        }
        FieldError::range("pool_max", self.pool_max, 1..=64)?;
        if self.pool_min > self.pool_max {
            return Err(FieldError::new(
                "pool_min",
                format!(
                    "{} must not exceed pool_max ({})",
                    self.pool_min, self.pool_max
                ),
            ));
        }
        for (key, value, max) in [
            ("connect_timeout_secs", self.connect_timeout_secs, 300),
            ("call_timeout_secs", self.call_timeout_secs, 3600),
            ("acquire_timeout_secs", self.acquire_timeout_secs, 300),
        ] {
            FieldError::range(key, value, 1..=max)?;
        }
        FieldError::range("fetch_array_size", self.fetch_array_size, 1..=100_000)?;
        Ok(())
    }
}

/// Why `database.direct.dsn` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("must not be empty")]
    Empty,
    #[error(
        "`{0}`: Easy Connect parameters (`?…`) are silently ignored by the driver \
         (oracledb 26.0.0-beta.5), so settings such as retry_count or wallet_location would not apply; \
         use the tnsnames.ora alias from the wallet (e.g. \"mydb_low\") or a full (DESCRIPTION=…) descriptor"
    )]
    EasyConnectParameters(String),
    #[error("`{0}` is not an Easy Connect string (no spaces allowed): host[:port]/service")]
    EasyConnectSpaces(String),
    #[error("`{0}` is not a tnsnames.ora alias (no spaces allowed)")]
    AliasSpaces(String),
    #[error("the connect descriptor has unbalanced parentheses")]
    Unbalanced,
}

/// Rejects DSNs the driver would misread silently.
fn check_dsn(dsn: &str) -> Result<(), DsnError> {
    let trimmed = dsn.trim();
    if trimmed.is_empty() {
        return Err(DsnError::Empty);
    }
    match dsn_kind(trimmed) {
        DsnKind::EasyConnect if trimmed.contains('?') => {
            Err(DsnError::EasyConnectParameters(trimmed.to_owned()))
        }
        DsnKind::EasyConnect if trimmed.contains(char::is_whitespace) => {
            Err(DsnError::EasyConnectSpaces(trimmed.to_owned()))
        }
        DsnKind::Alias if trimmed.contains(char::is_whitespace) => {
            Err(DsnError::AliasSpaces(trimmed.to_owned()))
        }
        DsnKind::Descriptor => {
            let mut depth: i64 = 0;
            for c in trimmed.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth < 0 {
                    break;
                }
            }
            if depth == 0 {
                Ok(())
            } else {
                Err(DsnError::Unbalanced)
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> DirectConfig {
        DirectConfig {
            wallet_dir: Some("/wallet".into()),
            dsn: Some("mydb_low".into()),
            user: Some("APP_RO".into()),
            password: Some(Secret::Env {
                env: "ADB_PASSWORD".into(),
            }),
            ..DirectConfig::default()
        }
    }

    #[test]
    fn complete_section_is_valid() {
        assert_eq!(complete().validate(), Ok(()));
    }

    #[test]
    fn missing_keys_are_named() {
        for (key, cfg) in [
            (
                "wallet_dir",
                DirectConfig {
                    wallet_dir: None,
                    ..complete()
                },
            ),
            (
                "dsn",
                DirectConfig {
                    dsn: None,
                    ..complete()
                },
            ),
            (
                "user",
                DirectConfig {
                    user: None,
                    ..complete()
                },
            ),
            (
                "password",
                DirectConfig {
                    password: None,
                    ..complete()
                },
            ),
        ] {
            let err = cfg.validate().expect_err(key);
            assert_eq!(err.key, key);
            assert!(err.message.contains("required"), "{}", err.message);
        }
    }

    #[test]
    fn easy_connect_parameters_are_rejected() {
        let cfg = DirectConfig {
            dsn: Some("tcps://adb.eu-frankfurt-1.oraclecloud.com:1522/x_low.adb.oraclecloud.com?retry_count=20&retry_delay=3".into()),
            ..complete()
        };
        let err = cfg.validate().expect_err("must fail");
        assert_eq!(err.key, "dsn");
        assert!(err.message.contains("silently ignored"), "{}", err.message);
        let plain = DirectConfig {
            dsn: Some(
                "tcps://adb.eu-frankfurt-1.oraclecloud.com:1522/x_low.adb.oraclecloud.com".into(),
            ),
            ..complete()
        };
        assert_eq!(plain.validate(), Ok(()));
    }

    #[test]
    fn dsn_kinds() {
        assert_eq!(dsn_kind("mydb_low"), DsnKind::Alias);
        assert_eq!(
            dsn_kind(" (description=(address=(host=h)))"),
            DsnKind::Descriptor
        );
        assert_eq!(dsn_kind("host:1522/svc"), DsnKind::EasyConnect);
        assert_eq!(dsn_kind("tcps://host/svc"), DsnKind::EasyConnect);
        let unbalanced = DirectConfig {
            dsn: Some("(description=(address=(host=h))".into()),
            ..complete()
        };
        assert_eq!(unbalanced.validate().expect_err("unbalanced").key, "dsn");
    }

    #[test]
    fn ranges_are_checked() {
        let cases = [
            (
                "pool_max",
                DirectConfig {
                    pool_max: 0,
                    ..complete()
                },
            ),
            (
                "pool_min",
                DirectConfig {
                    pool_min: 5,
                    pool_max: 4,
                    ..complete()
                },
            ),
            (
                "call_timeout_secs",
                DirectConfig {
                    call_timeout_secs: 0,
                    ..complete()
                },
            ),
            (
                "fetch_array_size",
                DirectConfig {
                    fetch_array_size: 0,
                    ..complete()
                },
            ),
        ];
        for (key, cfg) in cases {
            assert_eq!(cfg.validate().expect_err(key).key, key);
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let cfg = DirectConfig {
            password: Some(Secret::Inline("db-secret-1".into())),
            wallet_password: Some(Secret::Inline("wallet-secret-2".into())),
            ..complete()
        };
        let debug = format!("{cfg:?}");
        let toml = toml::to_string(&cfg).expect("ser");
        for text in [debug, toml] {
            assert!(
                !text.contains("db-secret-1") && !text.contains("wallet-secret-2"),
                "{text}"
            );
        }
    }
}
