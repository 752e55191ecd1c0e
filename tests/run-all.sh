#!/usr/bin/env bash
# Runs every check and test of adb-mcp: the README's test command and CI's.
# Needs only the Rust toolchain, Node/npm and Python 3 on the machine; the
# external clients (npm, PyPI, pinned) are installed by tests/external/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit and integration tests)"
cargo test --locked
# OTLP trace export is behind a feature: lint and test it with the feature on.
cargo clippy --all-targets --locked --features otel -- -D warnings
cargo test --locked --features otel --test otel

# The external clients test behaviour, not speed: they use the debug binary
# `cargo test` just built (a fat-LTO release build takes minutes).
step "external MCP clients (Inspector CLI, conformance suite, Python SDK, OAuth)"
cargo build --locked --bin adb-mcp
EXTERNAL_OAUTH_REQUIRED=1 bash tests/external/run.sh "$PWD/target/debug/adb-mcp"
