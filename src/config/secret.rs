//! Secrets in config: read from an environment variable or a file, so they
//! never have to appear on a command line. They print as `[redacted]`.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};

/// Where a secret comes from. An inline value is accepted (for local files
/// with tight permissions) but never printed.
#[derive(Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Secret {
    Env { env: String },
    File { file: PathBuf },
    Inline(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set or not valid UTF-8")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("the secret is empty")]
    Empty,
}

impl Secret {
    /// Resolves the secret's value; errors name the variable or file, never the value.
    pub fn resolve(&self) -> Result<String, SecretError> {
        let value = match self {
            Secret::Env { env } => {
                std::env::var(env).map_err(|_| SecretError::MissingEnv(env.clone()))?
            }
            Secret::File { file } => std::fs::read_to_string(file)
                .map_err(|e| SecretError::File {
                    path: file.clone(),
                    message: e.kind().to_string(),
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            Secret::Inline(v) => v.clone(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Env { env } => write!(f, "Secret(env:{env})"),
            Secret::File { file } => write!(f, "Secret(file:{})", file.display()),
            Secret::Inline(_) => f.write_str("Secret([redacted])"),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct EnvRef<'a> {
            env: &'a str,
        }
        #[derive(Serialize)]
        struct FileRef<'a> {
            file: &'a std::path::Path,
        }
        match self {
            Secret::Env { env } => EnvRef { env }.serialize(s),
            Secret::File { file } => FileRef { file }.serialize(s),
            Secret::Inline(_) => s.serialize_str("[redacted]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_never_prints() {
        let s = Secret::Inline("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).expect("ser").contains("hunter2"));
        assert_eq!(s.resolve().expect("resolve"), "hunter2");
    }

    #[test]
    fn file_secret_is_trimmed_and_errors_do_not_leak() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").expect("write");
        let s = Secret::File { file: p.clone() };
        assert_eq!(s.resolve().expect("resolve"), "s3cret");
        let missing = Secret::File {
            file: dir.path().join("nope"),
        };
        let err = missing.resolve().expect_err("missing").to_string();
        assert!(err.contains("nope"));
    }

    #[test]
    fn env_secret_missing_names_variable() {
        let s = Secret::Env {
            env: "ADB_MCP_TEST_SURELY_UNSET_VAR".into(),
        };
        let err = s.resolve().expect_err("unset").to_string();
        assert!(err.contains("ADB_MCP_TEST_SURELY_UNSET_VAR"));
    }
}
