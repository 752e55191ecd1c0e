//! HTTPS termination with rustls (aws-lc-rs provider, TLS 1.2+, ALPN h2 and
//! http/1.1).
//!
//! The certificate lives in a [`CertStore`]: rustls asks it for the
//! certificate at every handshake, and a background task swaps in a new one
//! when the files change on disk (certbot renewals), on SIGHUP, or never if
//! the new files are broken — the old certificate then stays in service and
//! the reason is logged. Established connections keep the session they
//! negotiated, so a swap never interrupts a request.
//!
//! Handshakes run in their own tasks (bounded in number and time) and only
//! finished TLS streams reach axum through [`TlsListener`], so a slow client
//! cannot stall the accept loop and axum's graceful shutdown drains TLS
//! connections exactly like plain ones.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::tls::{TlsConfig, TlsVersion};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;
/// Certificate and key files larger than this are not PEM we can use.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// A certificate or key problem, naming the config key and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls.{key} ({}): cannot read the file: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("server.tls.{key} ({}): {message}", path.display())]
    Content {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error(
        "server.tls.key_file ({}) does not belong to the certificate in server.tls.cert_file ({}): {message}",
        key_path.display(),
        cert_path.display()
    )]
    Mismatch {
        cert_path: PathBuf,
        key_path: PathBuf,
        message: String,
    },
    #[error("server.tls: {0} (set enabled = true with cert_file and key_file)")]
    NotConfigured(&'static str),
    #[error("server.tls: cannot build the TLS configuration: {0}")]
    Rustls(String),
    /// The files still hold the pair that failed before (message repeated).
    #[error("{0}")]
    StillBroken(String),
}

/// The crypto provider used for every server-side TLS object: aws-lc-rs,
/// the one the rest of the crate (reqwest, jsonwebtoken) already links.
/// Passed explicitly, so no process-wide default has to be installed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads and checks a certificate chain and its private key. Public so that
/// `doctor` can run exactly the check the server runs at startup.
pub fn load_certified_key(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read_pem("cert_file", cert_path)?;
    let key_pem = read_pem("key_file", key_path)?;
    certified_key_from_pem(cert_path, &cert_pem, key_path, &key_pem, provider)
}

fn read_pem(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(TlsError::Content {
            key,
            path: path.to_owned(),
            message: "not a regular file".into(),
        });
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(TlsError::Content {
            key,
            path: path.to_owned(),
            message: format!("{} bytes is too large for a PEM file", meta.len()),
        });
    }
    std::fs::read(path).map_err(read_err)
}

fn certified_key_from_pem(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_err = |message: String| TlsError::Content {
        key: "cert_file",
        path: cert_path.to_owned(),
        message,
    };
    let key_err = |message: String| TlsError::Content {
        key: "key_file",
        path: key_path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(pem_problem(&e)))?;
    if chain.is_empty() {
        let hint = if PrivateKeyDer::from_pem_slice(cert_pem).is_ok() {
            " (it holds a private key: are cert_file and key_file swapped?)"
        } else {
            ""
        };
        return Err(cert_err(format!(
            "no certificate found: expected PEM `-----BEGIN CERTIFICATE-----` blocks, leaf first (certbot: fullchain.pem){hint}"
        )));
    }
    // The key file's contents never reach a message: only what kind of
    // problem it has.
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            let hint = if CertificateDer::from_pem_slice(key_pem).is_ok() {
                " (it holds a certificate: are cert_file and key_file swapped?)"
            } else {
                ""
            };
            key_err(format!(
                "no private key found: expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block (certbot: privkey.pem){hint}"
            ))
        }
        other => key_err(pem_problem(&other)),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            message: "the public keys differ (a renewal half done, or files from two certificates)"
                .into(),
        },
        // Raised by the key provider: the key's type or encoding.
        rustls::Error::General(m) => key_err(format!("unsupported or damaged private key: {m}")),
        other => cert_err(format!("unusable certificate: {other}")),
    })
}

/// Says what is wrong with PEM text without quoting it.
fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => {
            "a PEM block has no END line (truncated file?)".into()
        }
        pem::Error::IllegalSectionStart { .. } => "a malformed PEM BEGIN line".into(),
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64".into(),
        pem::Error::Io(e) => format!("read error: {e}"),
        pem::Error::NoItemsFound => "no PEM block of the expected kind".into(),
        pem::Error::SectionTooLarge => "a PEM block is too large".into(),
        _ => "not valid PEM".into(),
    }
}

/// What the reload task last saw, so that unchanged files cost one read and
/// a broken pair is reported once, not at every poll.
#[derive(Default)]
struct ReloadState {
    /// File contents of the pair in service.
    loaded: (Vec<u8>, Vec<u8>),
    /// File contents of the last pair that failed to load.
    failed: Option<(Vec<u8>, Vec<u8>)>,
    last_error: Option<String>,
}

/// The certificate in service, swapped atomically on reload.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    state: Mutex<ReloadState>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_file", &self.cert_path)
            .field("key_file", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads the configured pair; any problem is a startup error.
    pub fn open(config: &TlsConfig, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let cert_path = config
            .cert_file
            .clone()
            .ok_or(TlsError::NotConfigured("cert_file is not set"))?;
        let key_path = config
            .key_file
            .clone()
            .ok_or(TlsError::NotConfigured("key_file is not set"))?;
        let cert_pem = read_pem("cert_file", &cert_path)?;
        let key_pem = read_pem("key_file", &key_path)?;
        let key = certified_key_from_pem(&cert_path, &cert_pem, &key_path, &key_pem, &provider)?;
        tracing::info!(
            cert_file = %cert_path.display(),
            chain_len = key.cert.len(),
            "TLS certificate loaded"
        );
        Ok(Self {
            cert_path,
            key_path,
            provider,
            current: ArcSwap::from_pointee(key),
            state: Mutex::new(ReloadState {
                loaded: (cert_pem, key_pem),
                ..ReloadState::default()
            }),
        })
    }

    /// The certificate chain in service (leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.load().cert.clone()
    }

    /// Why the last reload attempt kept the old certificate, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReloadState> {
        // A panic while holding the lock cannot leave the state half
        // written in a harmful way: at worst one reload is repeated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rereads the files and swaps in a changed, valid pair. Returns whether
    /// a new certificate went into service; on error the old one stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let read = read_pem("cert_file", &self.cert_path)
            .and_then(|c| read_pem("key_file", &self.key_path).map(|k| (c, k)));
        let mut state = self.lock();
        let pair = match read {
            Ok(pair) => pair,
            Err(e) => {
                self.record_failure(&mut state, None, &e);
                return Err(e);
            }
        };
        if pair == state.loaded {
            state.failed = None;
            state.last_error = None;
            return Ok(false);
        }
        if state.failed.as_ref() == Some(&pair) {
            let message = state.last_error.clone().unwrap_or_default();
            return Err(TlsError::StillBroken(message));
        }
        match certified_key_from_pem(
            &self.cert_path,
            &pair.0,
            &self.key_path,
            &pair.1,
            &self.provider,
        ) {
            Ok(key) => {
                let chain_len = key.cert.len();
                self.current.store(Arc::new(key));
                state.loaded = pair;
                state.failed = None;
                state.last_error = None;
                tracing::info!(
                    cert_file = %self.cert_path.display(),
                    chain_len,
                    "TLS certificate reloaded: new connections use it"
                );
                Ok(true)
            }
            Err(e) => {
                self.record_failure(&mut state, Some(pair), &e);
                Err(e)
            }
        }
    }

    fn record_failure(
        &self,
        state: &mut ReloadState,
        pair: Option<(Vec<u8>, Vec<u8>)>,
        e: &TlsError,
    ) {
        let message = e.to_string();
        if state.last_error.as_deref() != Some(message.as_str()) {
            tracing::warn!(error = %message, "TLS certificate not reloaded; the current one stays in service");
        }
        state.failed = pair;
        state.last_error = Some(message);
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Everything HTTPS needs at run time.
pub struct TlsRuntime {
    store: Arc<CertStore>,
    acceptor: TlsAcceptor,
    reload_every: Option<Duration>,
}

impl TlsRuntime {
    /// Loads the certificate and builds the rustls configuration.
    pub fn new(config: &TlsConfig) -> Result<Self, TlsError> {
        let provider = provider();
        let store = Arc::new(CertStore::open(config, Arc::clone(&provider))?);
        let versions: &[&'static rustls::SupportedProtocolVersion] = match config.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&store) as Arc<dyn ResolvesServerCert>);
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            store,
            acceptor: TlsAcceptor::from(Arc::new(server)),
            reload_every: (config.reload_interval_secs > 0)
                .then(|| Duration::from_secs(config.reload_interval_secs)),
        })
    }

    pub fn store(&self) -> &Arc<CertStore> {
        &self.store
    }

    /// Polls the files (if configured) until `stop`. SIGHUP reloads are
    /// handled by the server, which calls [`CertStore::reload`].
    pub(crate) fn spawn_reloader(&self, stop: CancellationToken) {
        let Some(every) = self.reload_every else {
            return;
        };
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                // File reads and key parsing are short but blocking.
                let store = Arc::clone(&store);
                let _ = tokio::task::spawn_blocking(move || store.reload()).await;
            }
        });
    }

    /// Starts handshaking connections from `tcp`; finished TLS streams come
    /// out of the returned listener.
    pub(crate) fn listen(&self, tcp: TcpListener) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, self.acceptor.clone(), tx));
        Ok(TlsListener { rx, local })
    }
}

type Handshaken = (TlsStream<TcpStream>, SocketAddr);

async fn accept_loop(tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<Handshaken>) {
    let slots = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        // The listener is dropped (and the port closed) as soon as the
        // server stops accepting.
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p,
            () = tx.closed() => return,
        };
        let Ok(permit) = permit else { return };
        let (stream, peer) = tokio::select! {
            r = tcp.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // Nagle would delay small SSE events and JSON answers.
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                // Scanners and old clients fail here all day: debug only.
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Like axum's own accept loop: per-connection errors are ignored, resource
/// exhaustion (EMFILE) backs off instead of spinning.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// TLS connections whose handshake has completed, for `axum::serve`.
pub struct TlsListener {
    rx: mpsc::Receiver<Handshaken>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
