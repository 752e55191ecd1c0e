//! Cost of validating an access token: a first sighting (signature check,
//! claims, scopes) and a repeat (the verified-token cache).
//!
//! `cargo bench --bench auth_validation` (needs the `openssl` command to
//! make throwaway keys).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adb_mcp::auth::keys::KeySet;
use adb_mcp::auth::{Authenticator, Provider};
use adb_mcp::config::auth::ResolvedProvider;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://identity.oraclecloud.com/";
const AUDIENCE: &str = "https://mcp.example.test/";

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command is needed to generate bench keys");
    assert!(status.success(), "openssl {args:?} failed");
}

fn make_keys(dir: &Path, name: &str, ec: bool) -> (Vec<u8>, std::path::PathBuf) {
    let private = dir.join(format!("{name}.key.pem"));
    let public = dir.join(format!("{name}.pem"));
    let p = private.to_str().expect("utf8");
    if ec {
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            p,
        ]);
        // jsonwebtoken signs with PKCS#8 EC keys.
        let pk8 = dir.join(format!("{name}.pk8.pem"));
        openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            p,
            "-out",
            pk8.to_str().expect("utf8"),
        ]);
        openssl(&[
            "ec",
            "-in",
            p,
            "-pubout",
            "-out",
            public.to_str().expect("utf8"),
        ]);
        (std::fs::read(pk8).expect("read key"), public)
    } else {
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            p,
        ]);
        openssl(&[
            "pkey",
            "-in",
            p,
            "-pubout",
            "-out",
            public.to_str().expect("utf8"),
        ]);
        (std::fs::read(private).expect("read key"), public)
    }
}

fn token(key: &EncodingKey, alg: Algorithm, kid: &str, jti: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice@example.com", "client_id": "claude",
        "scope": "mcp.tools", "tok_type": "AT", "user_displayname": "Alice",
        "iat": now, "exp": now + 3600, "jti": format!("j{jti}"),
    });
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    println!(
        "{label:<34} median {:>8.2} µs   p99 {:>8.2} µs   ({} samples)",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: u64 = if quick { 300 } else { 3000 };
    let dir = tempfile::tempdir().expect("tmp");
    let (rsa_private, rsa_public) = make_keys(dir.path(), "rsa", false);
    let (ec_private, ec_public) = make_keys(dir.path(), "ec", true);
    let keys = KeySet::from_files(None, &[rsa_public, ec_public]).expect("keys");
    let provider = Provider::new(
        ResolvedProvider {
            discovery_url: None,
            jwks_uri: None,
            issuers: vec![ISSUER.into()],
            audiences: vec![AUDIENCE.into()],
            scopes: vec!["mcp.tools".into()],
            scope_prefix: AUDIENCE.into(),
        },
        None,
        keys,
        vec![Algorithm::RS256, Algorithm::ES256],
        vec![],
    );
    let auth = Arc::new(Authenticator::new(vec![provider], 60));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rsa = EncodingKey::from_rsa_pem(&rsa_private).expect("rsa key");
    let ec = EncodingKey::from_ec_pem(&ec_private).expect("ec key");

    println!("token validation, {n} iterations each (single thread)");
    for (label, key, alg, kid) in [
        (
            "RS256 first sighting (verify)",
            &rsa,
            Algorithm::RS256,
            "rsa",
        ),
        ("ES256 first sighting (verify)", &ec, Algorithm::ES256, "ec"),
    ] {
        let tokens: Vec<String> = (0..n).map(|i| token(key, alg, kid, i)).collect();
        let mut samples = Vec::with_capacity(tokens.len());
        for t in &tokens {
            let start = Instant::now();
            let p = rt.block_on(auth.authenticate(t)).expect("valid token");
            samples.push(start.elapsed());
            assert_eq!(p.subject, "alice@example.com");
        }
        report(label, samples);
    }
    let repeat = token(&rsa, Algorithm::RS256, "rsa", 1_000_000);
    rt.block_on(auth.authenticate(&repeat)).expect("valid");
    let samples = (0..n * 10)
        .map(|_| {
            let start = Instant::now();
            let _ = rt.block_on(auth.authenticate(&repeat)).expect("valid");
            start.elapsed()
        })
        .collect();
    report("repeat token (cache hit)", samples);
}
