//! Signing keys of one identity provider: fetched from its JWKS and kept
//! fresh, or loaded once from files for IdPs whose JWKS is not public.
//!
//! A failed refresh keeps the previous keys (an IdP hiccup must not lock
//! everybody out), and an unknown `kid` triggers at most one refetch per
//! interval, so forged `kid`s cannot make us hammer the IdP.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// One usable verification key.
pub struct Key {
    pub kid: Option<String>,
    pub decoding: DecodingKey,
    /// The algorithm the JWK pins, if any; a token must then use exactly it.
    pub alg: Option<Algorithm>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot fetch JWKS from {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("cannot read key file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{source_name} contains no usable signing key")]
    Empty { source_name: String },
}

enum Source {
    Remote {
        url: String,
        client: reqwest::Client,
    },
    Static,
}

pub struct KeySet {
    source: Source,
    keys: RwLock<Arc<Vec<Arc<Key>>>>,
    refetch_interval: Duration,
    last_fetch: Mutex<Option<Instant>>,
    /// Refreshes after startup that loaded keys / that failed (for metrics).
    refreshed: AtomicU64,
    refresh_failed: AtomicU64,
}

/// Parses a JWK set, skipping keys we cannot use (encryption keys, HMAC
/// secrets, unsupported curves) instead of failing the whole set.
pub fn parse_jwks(doc: &Value) -> Vec<Arc<Key>> {
    let Some(list) = doc.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for raw in list {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            tracing::debug!("skipping a JWK that does not parse");
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        if matches!(
            jwk.algorithm,
            jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)
        ) {
            continue;
        }
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| a.to_string().parse::<Algorithm>().ok());
        keys.push(Arc::new(Key {
            kid: jwk.common.key_id.clone(),
            decoding,
            alg,
        }));
    }
    keys
}

fn read_pem(path: &Path) -> Result<Arc<Key>, KeyError> {
    let err = |message: String| KeyError::File {
        path: path.to_path_buf(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let decoding = DecodingKey::from_rsa_pem(&pem)
        .or_else(|_| DecodingKey::from_ec_pem(&pem))
        .map_err(|_| err("not an RSA or EC public key in PEM format".into()))?;
    Ok(Arc::new(Key {
        kid: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
        decoding,
        alg: None,
    }))
}

impl KeySet {
    /// Fetches the JWKS now; startup fails loudly if the IdP's keys are unreadable
    /// (for Oracle IAM: "Configure client access" is off).
    pub async fn remote(
        url: String,
        client: reqwest::Client,
        refetch_interval: Duration,
    ) -> Result<Arc<Self>, KeyError> {
        let keys = fetch(&client, &url).await?;
        if keys.is_empty() {
            return Err(KeyError::Empty { source_name: url });
        }
        Ok(Arc::new(Self {
            source: Source::Remote { url, client },
            keys: RwLock::new(Arc::new(keys)),
            refetch_interval,
            last_fetch: Mutex::new(Some(Instant::now())),
            refreshed: AtomicU64::new(0),
            refresh_failed: AtomicU64::new(0),
        }))
    }

    pub fn from_files(
        jwks_file: Option<&Path>,
        pem_files: &[PathBuf],
    ) -> Result<Arc<Self>, KeyError> {
        let mut keys = Vec::new();
        if let Some(path) = jwks_file {
            let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let doc: Value = serde_json::from_str(&text).map_err(|e| KeyError::File {
                path: path.to_path_buf(),
                message: format!("not JSON: {e}"),
            })?;
            keys.extend(parse_jwks(&doc));
        }
        for p in pem_files {
            keys.push(read_pem(p)?);
        }
        if keys.is_empty() {
            return Err(KeyError::Empty {
                source_name: "the configured key files".into(),
            });
        }
        Ok(Self::fixed(keys))
    }

    /// A key set that never changes (static keys, tests).
    pub fn fixed(keys: Vec<Arc<Key>>) -> Arc<Self> {
        Arc::new(Self {
            source: Source::Static,
            keys: RwLock::new(Arc::new(keys)),
            refetch_interval: Duration::MAX,
            last_fetch: Mutex::new(None),
            refreshed: AtomicU64::new(0),
            refresh_failed: AtomicU64::new(0),
        })
    }

    /// Refreshes since startup: (succeeded, failed).
    pub fn refresh_counts(&self) -> (u64, u64) {
        (
            self.refreshed.load(Ordering::Relaxed),
            self.refresh_failed.load(Ordering::Relaxed),
        )
    }

    pub fn current(&self) -> Arc<Vec<Arc<Key>>> {
        self.keys
            .read()
            .map(|k| Arc::clone(&k))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Keys that may have signed a token with this `kid` and `alg`.
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<Key>> {
        self.current()
            .iter()
            .filter(|k| match (kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .filter(|k| k.alg.is_none_or(|a| a == alg))
            .cloned()
            .collect()
    }

    /// Refetches after an unknown `kid`, at most once per interval.
    /// Returns whether new keys were loaded.
    pub async fn refetch_for_unknown_kid(&self) -> bool {
        let Source::Remote { url, client } = &self.source else {
            return false;
        };
        {
            let Ok(mut last) = self.last_fetch.lock() else {
                return false;
            };
            if last.is_some_and(|t| t.elapsed() < self.refetch_interval) {
                return false;
            }
            *last = Some(Instant::now());
        }
        self.refresh_from(url, client).await
    }

    /// Periodic refresh; on failure the previous keys stay in use.
    pub async fn refresh(&self) -> bool {
        let Source::Remote { url, client } = &self.source else {
            return false;
        };
        if let Ok(mut last) = self.last_fetch.lock() {
            *last = Some(Instant::now());
        }
        self.refresh_from(url, client).await
    }

    async fn refresh_from(&self, url: &str, client: &reqwest::Client) -> bool {
        match fetch(client, url).await {
            Ok(keys) if !keys.is_empty() => {
                let count = keys.len();
                if let Ok(mut slot) = self.keys.write() {
                    *slot = Arc::new(keys);
                }
                self.refreshed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(url, keys = count, "JWKS refreshed");
                true
            }
            Ok(_) => {
                self.refresh_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    url,
                    "JWKS refresh returned no usable keys; keeping the previous keys"
                );
                false
            }
            Err(e) => {
                self.refresh_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the previous keys");
                false
            }
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<Arc<Key>>, KeyError> {
    match super::fetch_json(client, url).await {
        Ok(doc) => Ok(parse_jwks(&doc)),
        Err(e) => {
            let hint = match &e {
                super::FetchError::Status(s) if s.as_u16() == 401 || s.as_u16() == 403 => {
                    " (Oracle IAM: enable \"Configure client access\" in the identity domain settings so the signing keys are readable)"
                }
                _ => "",
            };
            Err(KeyError::Fetch {
                url: url.to_owned(),
                message: format!("{e}{hint}"),
            })
        }
    }
}

/// Keeps a remote key set fresh on a fixed period, until `stop`.
pub fn spawn_refresh(keys: Arc<KeySet>, every: Duration, stop: CancellationToken) {
    if matches!(keys.source, Source::Static) {
        return;
    }
    super::spawn_periodic(every, stop, move || {
        let k = Arc::clone(&keys);
        async move {
            k.refresh().await;
        }
    });
}
