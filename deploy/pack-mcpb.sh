#!/usr/bin/env bash
# Packs adb-mcp as a Claude Desktop extension (MCP Bundle, .mcpb): the
# repository's manifest.json plus the adb-mcp binary for this platform.
#
#   deploy/pack-mcpb.sh                       # cargo build --release, then pack
#   deploy/pack-mcpb.sh --binary PATH         # pack an existing binary
#   deploy/pack-mcpb.sh --out FILE.mcpb       # default: dist/adb-mcp-<version>-<platform>-<arch>.mcpb
#
# The bundle holds one binary, so its manifest is narrowed to the platform it
# was built on (compatibility.platforms). Build on macOS for macOS users, on
# Windows (Git Bash) for Windows users.
#
# The official CLI (npm @anthropic-ai/mcpb, pinned with every dependency in
# deploy/mcpb/package-lock.json) validates the manifest and writes the
# archive; `npm ci` installs it into deploy/mcpb/node_modules when missing.
# Needs Node.js 18+ and npm.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/deploy/mcpb"
MCPB_VERSION="2.1.2"
MCPB_CLI="$TOOLS/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js"

die() {
    echo "pack-mcpb: ERROR: $*" >&2
    exit 1
}
log() { echo "pack-mcpb: $*"; }

BIN=""
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) BIN="${2:-}"; shift 2 ;;
        --out) OUT="${2:-}"; shift 2 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

case "$(uname -s)" in
    Darwin) PLATFORM=darwin; EXE="" ;;
    Linux) PLATFORM=linux; EXE="" ;;
    MINGW* | MSYS* | CYGWIN*) PLATFORM=win32; EXE=".exe" ;;
    *) die "unsupported platform $(uname -s)" ;;
esac
ARCH="$(uname -m)"

NODE="$(command -v node || true)"
[ -n "$NODE" ] || die "Node.js 18+ is needed to run the mcpb CLI"
if [ ! -f "$MCPB_CLI" ] || [ "$("$NODE" -p "require(process.argv[1]).version" "$TOOLS/node_modules/@anthropic-ai/mcpb/package.json")" != "$MCPB_VERSION" ]; then
    log "installing the pinned mcpb CLI (npm ci in deploy/mcpb)"
    (cd "$TOOLS" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) \
        || die "npm ci failed in $TOOLS (is the npm registry reachable?)"
    [ -f "$MCPB_CLI" ] || die "$MCPB_CLI is missing after npm ci"
fi
MCPB=("$NODE" "$MCPB_CLI")
got="$("${MCPB[@]}" --version)"
[ "$got" = "$MCPB_VERSION" ] || die "mcpb CLI is $got, pinned $MCPB_VERSION"

VERSION="$("$NODE" -p "require(process.argv[1]).version" "$ROOT/manifest.json")"
CRATE_VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)"
[ "$VERSION" = "$CRATE_VERSION" ] || die "manifest.json version $VERSION differs from Cargo.toml $CRATE_VERSION"

if [ -z "$BIN" ]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --locked --bin adb-mcp) || die "cargo build failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/adb-mcp$EXE"
fi
[ -x "$BIN" ] || die "'$BIN' is not an executable file"
got="$("$BIN" --version)" || die "$BIN does not run on this machine"
[ "$got" = "adb-mcp $VERSION" ] || die "$BIN reports '$got', the manifest is version $VERSION"

[ -n "$OUT" ] || OUT="$ROOT/dist/adb-mcp-$VERSION-$PLATFORM-$ARCH.mcpb"
mkdir -p "$(dirname "$OUT")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/adb-mcp-mcpb.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/bundle"
mkdir -p "$STAGE/server"
cp "$BIN" "$STAGE/server/adb-mcp$EXE"
chmod 0755 "$STAGE/server/adb-mcp$EXE"
"$NODE" -e '
    const fs = require("fs");
    const [src, dst, platform] = process.argv.slice(1);
    const m = JSON.parse(fs.readFileSync(src, "utf8"));
    m.compatibility = { ...(m.compatibility || {}), platforms: [platform] };
    if (platform === "win32") m.server.entry_point = "server/adb-mcp.exe";
    fs.writeFileSync(dst, JSON.stringify(m, null, 2) + "\n");
' "$ROOT/manifest.json" "$STAGE/manifest.json" "$PLATFORM"

"${MCPB[@]}" validate "$STAGE/manifest.json" || die "the manifest does not validate"
rm -f "$OUT"
"${MCPB[@]}" pack "$STAGE" "$OUT" || die "mcpb pack failed"
[ -s "$OUT" ] || die "mcpb pack wrote nothing to $OUT"
log "wrote $OUT ($(wc -c <"$OUT" | tr -d ' ') bytes, sha256 $(sha256sum "$OUT" 2>/dev/null | cut -d' ' -f1 || shasum -a 256 "$OUT" | cut -d' ' -f1))"
