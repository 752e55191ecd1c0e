//! Preflight for the direct backend: everything that can be checked without
//! a network round trip, checked before the first connection so that a bad
//! wallet, password or alias stops startup with a message naming the key and
//! the file, instead of surfacing later as an opaque TLS or driver error.
//!
//! It also works around gaps of `oracledb` 26.0.0-beta.5: we resolve
//! `tnsnames.ora` aliases ourselves (the driver's reader loses an alias
//! written directly after a `#` comment line) and hand the driver the
//! resolved descriptor; we decrypt the wallet key with the same `pkcs8`
//! crate the driver uses, so a wrong password or a legacy 3DES key is
//! reported as such.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use pkcs8::DecodePrivateKey as _;
use rustls::pki_types::pem::PemObject as _;

use crate::config::direct::{DirectConfig, DsnKind, dsn_kind};
use crate::config::{Secret, SecretError};

/// Where settings come from, used in error messages.
const SECTION: &str = "database.direct";
/// Nesting limit for `IFILE` includes.
const MAX_IFILE_DEPTH: usize = 8;
/// PKCS#12 password-based encryption OIDs (1.2.840.113549.1.12.1.x), the
/// legacy `PBE-SHA1-3DES` family that the driver cannot decrypt.
const PKCS12_PBE_OID_PREFIX: [u8; 10] =
    [0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c];

const ENCRYPTED_KEY_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_KEY_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
const PLAIN_KEY_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";

/// A problem found before connecting. Messages name the config key and the
/// file, and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("`{SECTION}.wallet_dir`: {path}: {message}")]
    WalletDir { path: PathBuf, message: String },
    #[error("`{SECTION}.{key}`: {message}")]
    Missing { key: &'static str, message: String },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("`{SECTION}.{key}`: {reason}")]
    Secret {
        key: &'static str,
        reason: SecretError,
    },
    #[error("`{SECTION}.dsn`: alias `{alias}` is not in {file}{hint}")]
    AliasNotFound {
        alias: String,
        file: PathBuf,
        hint: String,
    },
    #[error("`{SECTION}.dsn`: {message}")]
    Dsn { message: String },
    #[error("{path}: {message}")]
    Wallet { path: PathBuf, message: String },
}

/// One network address of the descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    pub protocol: String,
    pub host: String,
    pub port: u16,
    /// Parsed from the descriptor but ignored by the driver (see docs).
    pub https_proxy: Option<String>,
}

impl fmt::Display for AddressInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.protocol, self.host, self.port)
    }
}

/// What a DSN resolves to: enough to say where we connect, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    pub addresses: Vec<AddressInfo>,
    pub service_name: Option<String>,
    pub sid: Option<String>,
    pub retry_count: Option<u32>,
    pub retry_delay_secs: Option<u64>,
    pub ssl_server_dn_match: Option<bool>,
    pub ssl_server_cert_dn: Option<String>,
}

impl Target {
    pub fn uses_tls(&self) -> bool {
        self.addresses.iter().any(|a| a.protocol == "tcps")
    }

    /// `tcps://host:1522` (first address; `+N more` when there are several).
    pub fn endpoint(&self) -> String {
        match self.addresses.as_slice() {
            [] => "(no address)".into(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} (+{} more)", rest.len()),
        }
    }

    /// `service x` or `SID y`.
    pub fn service(&self) -> String {
        match (&self.service_name, &self.sid) {
            (Some(s), _) => format!("service {s}"),
            (None, Some(s)) => format!("SID {s}"),
            (None, None) => "no service name".into(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addrs: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
        write!(f, "{} {}", addrs.join(", "), self.service())?;
        if let Some(n) = self.retry_count {
            write!(
                f,
                " (retry_count {n}, retry_delay {} s)",
                self.retry_delay_secs.unwrap_or(1)
            )?;
        }
        Ok(())
    }
}

/// What the wallet provides for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletMode {
    /// No wallet: the server is verified against the public (Mozilla) roots.
    None,
    /// Certificates only: trusted as roots, no client certificate (one-way TLS).
    CaOnly { certificates: usize },
    /// A private key (decrypted fine) and its chain: mutual TLS. The driver
    /// then trusts only the public roots for the server certificate.
    ClientKey {
        certificates: usize,
        encrypted: bool,
    },
}

impl fmt::Display for WalletMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletMode::None => f.write_str("no wallet (server verified against public CAs)"),
            WalletMode::CaOnly { certificates } => write!(
                f,
                "{certificates} CA certificate(s), no client key (one-way TLS)"
            ),
            WalletMode::ClientKey {
                certificates,
                encrypted,
            } => write!(
                f,
                "client key ({}) with {certificates} certificate(s): mutual TLS",
                if *encrypted {
                    "decrypted with the wallet password"
                } else {
                    "unencrypted"
                }
            ),
        }
    }
}

/// The result of a successful preflight.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub wallet_dir: Option<PathBuf>,
    /// How `dsn` was read: alias (with its file), descriptor or Easy Connect.
    pub source: String,
    /// The descriptor text handed to the driver (no secrets in it).
    pub descriptor: String,
    pub target: Target,
    pub wallet: WalletMode,
    /// Legal settings that will not behave as written (logged at startup).
    pub warnings: Vec<String>,
}

impl Preflight {
    /// What TLS material is used, in one phrase.
    pub fn wallet_summary(&self) -> String {
        if !self.target.uses_tls() {
            return "none: plain TCP, no TLS".into();
        }
        match &self.wallet_dir {
            Some(dir) => format!("{} — {}", dir.display(), self.wallet),
            None => self.wallet.to_string(),
        }
    }
}

impl fmt::Display for Preflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "dsn:      {}", self.source)?;
        writeln!(f, "target:   {}", self.target)?;
        writeln!(f, "wallet:   {}", self.wallet_summary())?;
        if self.target.uses_tls() {
            writeln!(
                f,
                "server:   host name verified against its certificate (the driver does not enforce DN matching)"
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "warning:  {w}")?;
        }
        Ok(())
    }
}

/// Everything needed to open connections, built once.
pub struct Prepared {
    pub preflight: Preflight,
    pub driver: oracledb::Config,
    pub user: String,
}

/// Runs every offline check and builds the driver configuration.
pub fn prepare(cfg: &DirectConfig) -> Result<Prepared, PreflightError> {
    let dsn = cfg
        .dsn
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| PreflightError::Missing {
            key: "dsn",
            message: "not set".into(),
        })?;
    let user = cfg.user.clone().ok_or_else(|| PreflightError::Missing {
        key: "user",
        message: "not set".into(),
    })?;
    let password = resolve_secret("password", cfg.password.as_ref())?.ok_or_else(|| {
        PreflightError::Missing {
            key: "password",
            message: "not set".into(),
        }
    })?;
    let wallet_dir = match &cfg.wallet_dir {
        Some(dir) => Some(check_wallet_dir(dir)?),
        None => None,
    };
    let dir_str = match &wallet_dir {
        Some(dir) => Some(dir.to_str().ok_or_else(|| PreflightError::WalletDir {
            path: dir.clone(),
            message: "the path is not valid UTF-8, which the driver requires".into(),
        })?),
        None => None,
    };

    let mut warnings = Vec::new();
    let kind = dsn_kind(dsn);
    let (source, descriptor, target) = match kind {
        DsnKind::Alias => {
            let dir = wallet_dir.as_deref().ok_or_else(|| PreflightError::Missing {
                key: "wallet_dir",
                message: format!(
                    "the dsn `{dsn}` is a tnsnames.ora alias, so the wallet directory holding tnsnames.ora is required"
                ),
            })?;
            let names = TnsNames::load(dir)?;
            let descriptor = names.lookup(dsn)?;
            let target = Target::from_descriptor(&descriptor).map_err(|m| PreflightError::Dsn {
                message: format!("alias `{dsn}` in {}: {m}", names.file.display()),
            })?;
            if driver_misses_alias(dir, dsn) {
                warnings.push(format!(
                    "the driver's own tnsnames.ora reader cannot find `{dsn}` in {} (oracledb 26.0.0-beta.5 mishandles `#` comments, e.g. a comment line directly before an alias); adb-mcp resolved the alias itself, so nothing needs to change",
                    names.file.display()
                ));
            }
            (
                format!("alias `{dsn}` in {}", names.file.display()),
                descriptor,
                target,
            )
        }
        DsnKind::Descriptor => {
            let descriptor = one_line(dsn);
            let target = Target::from_descriptor(&descriptor).map_err(|e| PreflightError::Dsn {
                message: e.to_string(),
            })?;
            ("connect descriptor".to_owned(), descriptor, target)
        }
        DsnKind::EasyConnect => {
            if dsn.contains('?') {
                return Err(PreflightError::Dsn {
                    message: "Easy Connect parameters (`?…`) are silently ignored by the driver; use a tnsnames.ora alias or a full descriptor".into(),
                });
            }
            // Let the driver expand it, then read back what it will use.
            let expanded = oracledb::Config::default()
                .set_connect_string(dsn)
                .map_err(|e| PreflightError::Dsn {
                    message: format!("`{dsn}` is not a valid Easy Connect string: {e}"),
                })?
                .get_connect_descriptor();
            let target = Target::from_descriptor(&expanded).map_err(|e| PreflightError::Dsn {
                message: e.to_string(),
            })?;
            (format!("Easy Connect `{dsn}`"), dsn.to_owned(), target)
        }
    };
    if target.addresses.is_empty() {
        return Err(PreflightError::Dsn {
            message: format!("{source} has no (ADDRESS=…) to connect to"),
        });
    }
    if target.service_name.is_none() && target.sid.is_none() {
        return Err(PreflightError::Dsn {
            message: format!("{source} has no SERVICE_NAME in its CONNECT_DATA"),
        });
    }
    for a in &target.addresses {
        if a.protocol != "tcp" && a.protocol != "tcps" {
            return Err(PreflightError::Dsn {
                message: format!(
                    "{source}: protocol `{}` is not supported (tcp or tcps)",
                    a.protocol
                ),
            });
        }
        if let Some(proxy) = &a.https_proxy {
            warnings.push(format!(
                "{source} names HTTPS_PROXY {proxy}, which the driver ignores: it connects straight to {}:{}. If outbound traffic must go through a proxy, use the ORDS backend (HTTPS honours https_proxy)",
                a.host, a.port
            ));
        }
    }

    let wallet_password = resolve_secret("wallet_password", cfg.wallet_password.as_ref())?;
    let wallet = match &wallet_dir {
        Some(dir) if target.uses_tls() => check_wallet(dir, wallet_password.as_deref())?,
        Some(_) => {
            warnings.push(
                "wallet_dir is set but no address uses tcps, so ewallet.pem is not used (plain TCP is unencrypted)".into(),
            );
            WalletMode::None
        }
        None => {
            if !target.uses_tls() {
                warnings.push(format!(
                    "{} uses plain TCP: traffic, including the login, is not encrypted",
                    target.endpoint()
                ));
            }
            WalletMode::None
        }
    };

    let mut driver = oracledb::Config::default()
        .set_credentials(&user, &password)
        .set_transport_connect_timeout(Some(cfg.connect_timeout()))
        .set_stmtcachesize(40);
    if let Some(dir) = dir_str {
        driver = driver.set_config_dir(dir).set_wallet_location(dir);
    }
    if let Some(pw) = &wallet_password {
        driver = driver.set_wallet_password(pw);
    }
    let driver = driver
        .set_connect_string(&descriptor)
        .map_err(|e| PreflightError::Dsn {
            message: format!("{source}: the driver cannot parse the descriptor: {e}"),
        })?;

    Ok(Prepared {
        preflight: Preflight {
            wallet_dir,
            source,
            descriptor,
            target,
            wallet,
            warnings,
        },
        driver,
        user,
    })
}

fn resolve_secret(key: &'static str, s: Option<&Secret>) -> Result<Option<String>, PreflightError> {
    s.map(|s| {
        s.resolve()
            .map_err(|reason| PreflightError::Secret { key, reason })
    })
    .transpose()
}

fn check_wallet_dir(dir: &Path) -> Result<PathBuf, PreflightError> {
    let meta = std::fs::metadata(dir).map_err(|e| PreflightError::WalletDir {
        path: dir.to_path_buf(),
        message: format!(
            "{} (unzip the wallet downloaded from the OCI console into this directory)",
            io_reason(&e)
        ),
    })?;
    if !meta.is_dir() {
        return Err(PreflightError::WalletDir {
            path: dir.to_path_buf(),
            message: "is not a directory (unzip the wallet zip and point wallet_dir at the folder)"
                .into(),
        });
    }
    std::fs::read_dir(dir).map_err(|e| PreflightError::WalletDir {
        path: dir.to_path_buf(),
        message: io_reason(&e),
    })?;
    Ok(dir.to_path_buf())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (the server's user must be able to read it)".into()
        }
        _ => e.to_string(),
    }
}

fn read_file(path: &Path, hint: &str) -> Result<String, PreflightError> {
    std::fs::read_to_string(path).map_err(|e| PreflightError::File {
        path: path.to_path_buf(),
        message: format!("{}{hint}", io_reason(&e)),
    })
}

/// Reads `ewallet.pem` the way the driver will and decrypts its key.
pub fn check_wallet(dir: &Path, password: Option<&str>) -> Result<WalletMode, PreflightError> {
    let path = dir.join("ewallet.pem");
    let hint = if dir.join("cwallet.sso").exists() || dir.join("ewallet.p12").exists() {
        " — the driver reads only ewallet.pem (not cwallet.sso or ewallet.p12); download a current wallet, or convert: openssl pkcs12 -in ewallet.p12 -out ewallet.pem"
    } else {
        " — the wallet zip from the OCI console contains ewallet.pem"
    };
    let text = read_file(&path, hint)?;
    let wallet_err = |message: String| PreflightError::Wallet {
        path: path.clone(),
        message,
    };
    let mut certificates = 0usize;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(text.as_bytes()) {
        cert.map_err(|e| wallet_err(format!("a certificate does not parse: {e}")))?;
        certificates += 1;
    }
    // The key as DER, and whether it was encrypted with the wallet password; the
    // checks that follow are the same for both kinds of key.
    let encrypted_block = (text.find(ENCRYPTED_KEY_BEGIN), text.find(ENCRYPTED_KEY_END));
    let key = if let (Some(start), Some(end)) = encrypted_block {
        if end < start {
            return Err(wallet_err(
                "the encrypted private key block is malformed".into(),
            ));
        }
        let pem = &text[start..end + ENCRYPTED_KEY_END.len()];
        let (_, doc) = pkcs8::SecretDocument::from_pem(pem)
            .map_err(|e| wallet_err(format!("the encrypted private key is not valid PEM: {e}")))?;
        if doc
            .as_bytes()
            .windows(PKCS12_PBE_OID_PREFIX.len())
            .any(|w| w == PKCS12_PBE_OID_PREFIX)
        {
            return Err(wallet_err(
                "the private key uses legacy PKCS#12 encryption (PBE-SHA1-3DES), which the driver cannot read; re-encrypt it with PBES2: openssl pkcs8 -topk8 -v2 aes-256-cbc -in <key> -out <new key>, or download a current wallet".into(),
            ));
        }
        let Some(password) = password else {
            return Err(PreflightError::Missing {
                key: "wallet_password",
                message: format!(
                    "{} holds an encrypted private key; set the password chosen when the wallet was downloaded, e.g. wallet_password = {{ env = \"ADB_WALLET_PASSWORD\" }}",
                    path.display()
                ),
            });
        };
        let key = pkcs8::SecretDocument::from_pkcs8_encrypted_der(doc.as_bytes(), password.as_bytes())
            .map_err(|e| {
                PreflightError::Wallet {
                    path: path.clone(),
                    message: format!(
                        "the wallet password does not decrypt the private key ({e}); check `{SECTION}.wallet_password` — it is the password chosen when downloading the wallet, not the database password"
                    ),
                }
            })?;
        Some((
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.as_bytes().to_vec().into()),
            true,
        ))
    } else if text.contains(PLAIN_KEY_BEGIN) {
        let der = rustls::pki_types::PrivateKeyDer::from_pem_slice(text.as_bytes())
            .map_err(|e| wallet_err(format!("the private key does not parse: {e}")))?;
        Some((der, false))
    } else {
        None
    };
    if let Some((der, encrypted)) = key {
        rustls::crypto::aws_lc_rs::default_provider()
            .key_provider
            .load_private_key(der)
            .map_err(|e| wallet_err(format!("the private key cannot be used for TLS: {e}")))?;
        if certificates == 0 {
            return Err(wallet_err(
                "it holds a private key but no certificate to present with it".into(),
            ));
        }
        return Ok(WalletMode::ClientKey {
            certificates,
            encrypted,
        });
    }
    if text.contains("PRIVATE KEY-----") {
        return Err(wallet_err(
            "it holds a private key in a format the driver cannot read (only PKCS#8 `BEGIN PRIVATE KEY` or `BEGIN ENCRYPTED PRIVATE KEY`); convert it: openssl pkcs8 -topk8 -v2 aes-256-cbc".into(),
        ));
    }
    if certificates == 0 {
        return Err(wallet_err(
            "it holds no certificate and no private key".into(),
        ));
    }
    Ok(WalletMode::CaOnly { certificates })
}

/// Whether the driver's own alias lookup fails where ours succeeded.
fn driver_misses_alias(dir: &Path, alias: &str) -> bool {
    let Some(dir) = dir.to_str() else {
        return false;
    };
    oracledb::Config::default()
        .set_config_dir(dir)
        .set_connect_string(alias)
        .is_err()
}

/// Joins a multi-line descriptor into one line for the driver.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ").trim().to_owned()
}

/// Our own `tnsnames.ora` reader: `name[, name…] = value` entries, `#`
/// comments anywhere outside quotes, multi-line descriptors, `IFILE`.
pub struct TnsNames {
    pub file: PathBuf,
    entries: HashMap<String, String>,
    names: Vec<String>,
}

impl TnsNames {
    pub fn load(dir: &Path) -> Result<Self, PreflightError> {
        let file = dir.join("tnsnames.ora");
        let mut names = TnsNames {
            file: file.clone(),
            entries: HashMap::new(),
            names: Vec::new(),
        };
        let mut seen = HashSet::new();
        names.load_file(dir, &file, 0, &mut seen)?;
        Ok(names)
    }

    fn load_file(
        &mut self,
        dir: &Path,
        file: &Path,
        depth: usize,
        seen: &mut HashSet<PathBuf>,
    ) -> Result<(), PreflightError> {
        if depth > MAX_IFILE_DEPTH {
            return Err(PreflightError::File {
                path: file.to_path_buf(),
                message: format!("IFILE includes nest deeper than {MAX_IFILE_DEPTH} levels"),
            });
        }
        let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        if !seen.insert(canonical) {
            return Err(PreflightError::File {
                path: file.to_path_buf(),
                message: "IFILE includes form a cycle".into(),
            });
        }
        let hint = if depth == 0 {
            " — with a tnsnames.ora alias as dsn, wallet_dir must contain tnsnames.ora (or use a full descriptor as dsn)"
        } else {
            " (named by an IFILE entry)"
        };
        let text = read_file(file, hint)?;
        let entries = parse_tnsnames(&text).map_err(|m| PreflightError::File {
            path: file.to_path_buf(),
            message: m,
        })?;
        for (keys, value) in entries {
            if keys.len() == 1 && keys[0] == "ifile" {
                let included = dir.join(&value);
                self.load_file(dir, &included, depth + 1, seen)?;
                continue;
            }
            for key in keys {
                if !self.entries.contains_key(&key) {
                    self.names.push(key.clone());
                }
                self.entries.insert(key, value.clone());
            }
        }
        Ok(())
    }

    /// The descriptor for `alias` (case-insensitive), on one line.
    pub fn lookup(&self, alias: &str) -> Result<String, PreflightError> {
        match self.entries.get(&alias.to_ascii_lowercase()) {
            Some(v) => Ok(one_line(v)),
            None => {
                let close = crate::db::suggest(alias, self.names.iter().map(String::as_str));
                let hint = if !close.is_empty() {
                    format!("; did you mean {}?", close.join(", "))
                } else if self.names.is_empty() {
                    "; the file defines no aliases".to_owned()
                } else {
                    format!("; it defines: {}", self.names.join(", "))
                };
                Err(PreflightError::AliasNotFound {
                    alias: alias.to_owned(),
                    file: self.file.clone(),
                    hint,
                })
            }
        }
    }

    /// Aliases in file order (lower case).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Parses tnsnames.ora text into `(names, value)` entries.
pub fn parse_tnsnames(text: &str) -> Result<Vec<(Vec<String>, String)>, String> {
    let clean = strip_comments(text);
    let chars: Vec<char> = clean.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let line_of = |pos: usize| {
        chars[..pos.min(chars.len())]
            .iter()
            .filter(|c| **c == '\n')
            .count()
            + 1
    };
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != '(' {
            i += 1;
        }
        if i >= chars.len() || chars[i] != '=' {
            return Err(format!(
                "line {}: expected `alias = (DESCRIPTION=…)`",
                line_of(start)
            ));
        }
        let names_text: String = chars[start..i].iter().collect();
        let names: Vec<String> = names_text
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        if names
            .iter()
            .any(|n| n.is_empty() || n.contains(char::is_whitespace))
        {
            return Err(format!(
                "line {}: `{}` is not an alias name",
                line_of(start),
                names_text.trim()
            ));
        }
        i += 1; // '='
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let value_start = i;
        if i < chars.len() && chars[i] == '(' {
            let mut depth = 0i32;
            let mut quoted = false;
            while i < chars.len() {
                match chars[i] {
                    '"' => quoted = !quoted,
                    '(' if !quoted => depth += 1,
                    ')' if !quoted => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            if depth != 0 {
                return Err(format!(
                    "line {}: the descriptor of `{}` has unbalanced parentheses",
                    line_of(value_start),
                    names.join(", ")
                ));
            }
        } else {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        }
        let value: String = chars[value_start..i].iter().collect();
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(format!(
                "line {}: `{}` has no value",
                line_of(start),
                names.join(", ")
            ));
        }
        out.push((names, value));
    }
    Ok(out)
}

/// Removes `#` comments (to end of line) outside double quotes.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut in_comment = false;
    for c in text.chars() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
                out.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '#' if !quoted => in_comment = true,
            '\n' => {
                quoted = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A node of a connect descriptor: `(KEY = value)` or `(KEY = (…)(…))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub key: String,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeValue {
    Text(String),
    Children(Vec<Node>),
}

impl Node {
    fn children(&self) -> &[Node] {
        match &self.value {
            NodeValue::Children(c) => c,
            NodeValue::Text(_) => &[],
        }
    }

    fn text(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Text(t) => Some(t),
            NodeValue::Children(_) => None,
        }
    }

    /// Every node named `key` at any depth below (and including) this one.
    fn find_all<'a>(&'a self, key: &str, out: &mut Vec<&'a Node>) {
        if self.key == key {
            out.push(self);
        }
        for c in self.children() {
            c.find_all(key, out);
        }
    }

    fn child_text(&self, key: &str) -> Option<&str> {
        self.children()
            .iter()
            .find(|c| c.key == key)
            .and_then(Node::text)
    }
}

/// Parses a connect descriptor into its top-level nodes.
/// Why a connect descriptor cannot be read; the message gives the position
/// or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DescriptorError(String);

pub fn parse_descriptor(text: &str) -> Result<Vec<Node>, DescriptorError> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut nodes = Vec::new();
    loop {
        skip_ws(&chars, &mut i);
        if i >= chars.len() {
            break;
        }
        nodes.push(parse_node(&chars, &mut i)?);
    }
    if nodes.is_empty() {
        return Err(DescriptorError("the connect descriptor is empty".into()));
    }
    Ok(nodes)
}

fn skip_ws(chars: &[char], i: &mut usize) {
    while *i < chars.len() && chars[*i].is_whitespace() {
        *i += 1;
    }
}

fn parse_node(chars: &[char], i: &mut usize) -> Result<Node, DescriptorError> {
    if chars.get(*i) != Some(&'(') {
        return Err(DescriptorError(format!(
            "expected `(` at position {}",
            *i + 1
        )));
    }
    *i += 1;
    let key_start = *i;
    while *i < chars.len() && !matches!(chars[*i], '=' | '(' | ')') {
        *i += 1;
    }
    if chars.get(*i) != Some(&'=') {
        return Err(DescriptorError(format!(
            "expected `KEY=` at position {}",
            key_start + 1
        )));
    }
    let key: String = chars[key_start..*i].iter().collect();
    let key = key.trim().to_ascii_lowercase();
    if key.is_empty() {
        return Err(DescriptorError(format!(
            "empty key at position {}",
            key_start + 1
        )));
    }
    *i += 1;
    skip_ws(chars, i);
    let value = if chars.get(*i) == Some(&'(') {
        let mut children = Vec::new();
        while chars.get(*i) == Some(&'(') {
            children.push(parse_node(chars, i)?);
            skip_ws(chars, i);
        }
        NodeValue::Children(children)
    } else {
        let start = *i;
        let mut quoted = false;
        while *i < chars.len() {
            match chars[*i] {
                '"' => quoted = !quoted,
                ')' if !quoted => break,
                '(' if !quoted => {
                    return Err(DescriptorError(format!(
                        "unexpected `(` in the value of {key}"
                    )));
                }
                _ => {}
            }
            *i += 1;
        }
        let raw: String = chars[start..*i].iter().collect();
        NodeValue::Text(raw.trim().trim_matches('"').to_owned())
    };
    if chars.get(*i) != Some(&')') {
        return Err(DescriptorError(format!("missing `)` after {key}")));
    }
    *i += 1;
    Ok(Node { key, value })
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" => Some(true),
        "no" | "off" | "false" => Some(false),
        _ => None,
    }
}

impl Target {
    /// Reads addresses, service and security settings from a descriptor.
    pub fn from_descriptor(text: &str) -> Result<Target, DescriptorError> {
        let nodes = parse_descriptor(text)?;
        let mut t = Target::default();
        for top in &nodes {
            if top.key != "description" && top.key != "description_list" {
                return Err(DescriptorError(format!(
                    "expected (DESCRIPTION=…) or (DESCRIPTION_LIST=…), found ({}=…)",
                    top.key.to_ascii_uppercase()
                )));
            }
            let mut found = Vec::new();
            top.find_all("address", &mut found);
            for a in found {
                let port_text = a.child_text("port").unwrap_or("1521");
                let port = port_text.parse::<u16>().map_err(|_| {
                    DescriptorError(format!("PORT `{port_text}` is not a port number"))
                })?;
                t.addresses.push(AddressInfo {
                    protocol: a
                        .child_text("protocol")
                        .unwrap_or("tcp")
                        .to_ascii_lowercase(),
                    host: a.child_text("host").unwrap_or("localhost").to_owned(),
                    port,
                    https_proxy: a.child_text("https_proxy").map(str::to_owned),
                });
            }
            let first_text = |key: &str| {
                let mut v = Vec::new();
                top.find_all(key, &mut v);
                v.into_iter().find_map(|n| n.text().map(str::to_owned))
            };
            t.service_name = t.service_name.or_else(|| first_text("service_name"));
            t.sid = t.sid.or_else(|| first_text("sid"));
            t.retry_count = t
                .retry_count
                .or_else(|| first_text("retry_count").and_then(|v| v.parse().ok()));
            t.retry_delay_secs = t
                .retry_delay_secs
                .or_else(|| first_text("retry_delay").and_then(|v| v.parse().ok()));
            t.ssl_server_dn_match = t
                .ssl_server_dn_match
                .or_else(|| first_text("ssl_server_dn_match").and_then(|v| parse_bool(&v)));
            t.ssl_server_cert_dn = t
                .ssl_server_cert_dn
                .or_else(|| first_text("ssl_server_cert_dn"));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_dn_with_commas_and_parens() {
        let t = Target::from_descriptor(
            r#"(description=(address=(protocol=tcps)(port=1522)(host=h.example.com))(connect_data=(service_name=s))(security=(ssl_server_cert_dn="CN=x, OU=a (b), O=c")))"#,
        )
        .expect("parses");
        assert_eq!(t.ssl_server_cert_dn.as_deref(), Some("CN=x, OU=a (b), O=c"));
        assert_eq!(t.addresses[0].port, 1522);
        assert!(t.uses_tls());
    }

    #[test]
    fn malformed_descriptors_are_errors() {
        for bad in [
            "(description=(address=(host=h)",
            "description=x",
            "(=x)",
            "(address=(host=h))",
            "(description=(address=(port=huge)(host=h)))",
        ] {
            assert!(Target::from_descriptor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comments_inside_quotes_are_kept() {
        let parsed = parse_tnsnames("a = (description=(x=\"p#q\")) # trailing\n").expect("parses");
        assert_eq!(parsed[0].1, "(description=(x=\"p#q\"))");
    }

    #[test]
    fn tnsnames_errors_name_the_line() {
        let err = parse_tnsnames("ok = (description=(a=b))\n\nbroken (description=(a=b))\n")
            .expect_err("must fail");
        assert!(err.contains("line 3"), "{err}");
        let err = parse_tnsnames("x = (description=(a=b)\n").expect_err("unbalanced");
        assert!(err.contains("unbalanced"), "{err}");
    }
}
