#!/usr/bin/env bash
# Checks deploy/adb-mcp.service with systemd's own tools:
#   1. `systemd-analyze verify`: syntax, known keys and values, the
#      executable exists (ExecStart points at the binary under test in a
#      temporary copy; everything else is checked as shipped);
#   2. `systemd-analyze security --offline`: the hardening keeps the
#      exposure score at or below 2.0 ("OK");
#   3. the ExecStart command line is accepted by the binary's CLI.
#
# Usage: tests/deploy/check-systemd-unit.sh /path/to/adb-mcp
#
# systemd-analyze comes from the machine when it has one. Otherwise (a
# Debian container without systemd) the pinned Debian bookworm packages
# below are fetched with `apt-get download`, checked against their SHA-256
# and unpacked into tests/deploy/.cache (nothing is installed). PID 1 does
# not have to be systemd: verify and offline security work in containers.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
UNIT="$ROOT/deploy/adb-mcp.service"
CACHE="$HERE/.cache/systemd"

# Debian 12 (bookworm) packages providing systemd-analyze, pinned.
SYSTEMD_DEB_VERSION="252.39-1~deb12u2"
SYSTEMD_DEB_SHA256="286f879c537bfba92e59d580c075ad20ab49020244c79634656850a306dd462b"
LIBSYSTEMD_SHARED_DEB_SHA256="01458465c816b9eb63b92241869ddb46f332b8f498cf7a5979b84ec293cfdfda"
# Overall exposure (systemd-analyze security) times 10 that must not be exceeded.
EXPOSURE_THRESHOLD=20

die() {
    echo "check-systemd-unit: ERROR: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 /path/to/adb-mcp"
BIN="$1"
[ -x "$BIN" ] || die "'$BIN' is not an executable file"
[ -f "$UNIT" ] || die "$UNIT is missing"

ANALYZE=()
if command -v systemd-analyze >/dev/null 2>&1; then
    ANALYZE=(systemd-analyze)
else
    command -v apt-get >/dev/null 2>&1 || die "systemd-analyze is not installed and apt-get is not available to fetch it (install systemd ${SYSTEMD_DEB_VERSION%%-*} or newer)"
    [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] || die "the pinned systemd packages are amd64; install systemd-analyze from your distribution"
    extracted="$CACHE/$SYSTEMD_DEB_VERSION"
    if [ ! -x "$extracted/usr/bin/systemd-analyze" ]; then
        echo "check-systemd-unit: fetching systemd $SYSTEMD_DEB_VERSION (Debian bookworm) for systemd-analyze"
        rm -rf "$extracted" "$CACHE/debs"
        mkdir -p "$extracted" "$CACHE/debs"
        (cd "$CACHE/debs" && apt-get download "systemd=$SYSTEMD_DEB_VERSION" "libsystemd-shared=$SYSTEMD_DEB_VERSION") \
            || die "apt-get download systemd=$SYSTEMD_DEB_VERSION failed (needs Debian bookworm sources; run apt-get update, or update the pin in $0)"
        check_sum() {
            local file="$1" want="$2" got
            got="$(sha256sum "$file" | cut -d' ' -f1)"
            [ "$got" = "$want" ] || die "$(basename "$file"): sha256 $got, pinned $want"
        }
        check_sum "$CACHE/debs/systemd_${SYSTEMD_DEB_VERSION}_amd64.deb" "$SYSTEMD_DEB_SHA256"
        check_sum "$CACHE/debs/libsystemd-shared_${SYSTEMD_DEB_VERSION}_amd64.deb" "$LIBSYSTEMD_SHARED_DEB_SHA256"
        for deb in "$CACHE"/debs/*.deb; do
            dpkg-deb -x "$deb" "$extracted"
        done
    fi
    ANALYZE=(env "LD_LIBRARY_PATH=$extracted/usr/lib/x86_64-linux-gnu/systemd"
        "SYSTEMD_UNIT_PATH=$extracted/lib/systemd/system:" "$extracted/usr/bin/systemd-analyze")
fi
echo "check-systemd-unit: $("${ANALYZE[@]}" --version | head -n1)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/adb-mcp-unit.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# The shipped unit with only the executable path replaced.
grep -q '^ExecStart=/usr/local/bin/adb-mcp ' "$UNIT" || die "ExecStart must start with /usr/local/bin/adb-mcp (docs/deploy.md installs it there)"
sed "s#^ExecStart=/usr/local/bin/adb-mcp #ExecStart=$BIN #" "$UNIT" >"$WORK/adb-mcp.service"

# 1. verify: any output (unknown keys, bad values) counts as a failure.
out="$("${ANALYZE[@]}" verify --man=no "$WORK/adb-mcp.service" 2>&1)" || die "systemd-analyze verify failed:
$out"
[ -z "$out" ] || die "systemd-analyze verify reported:
$out"
echo "check-systemd-unit: verify OK"

# 2. hardening score.
out="$("${ANALYZE[@]}" security --offline=true --threshold="$EXPOSURE_THRESHOLD" "$WORK/adb-mcp.service" 2>&1)" \
    || die "exposure above $EXPOSURE_THRESHOLD/100:
$out"
echo "check-systemd-unit: $(printf '%s\n' "$out" | grep 'Overall exposure' | sed 's/^→ //')"

# 3. The binary accepts ExecStart's arguments (with --help so nothing starts).
read -r -a args <<<"$(sed -n 's#^ExecStart=/usr/local/bin/adb-mcp ##p' "$UNIT")"
"$BIN" "${args[@]}" --help >/dev/null || die "adb-mcp rejects the ExecStart arguments: ${args[*]}"
echo "check-systemd-unit: ExecStart arguments accepted by $(basename "$BIN")"
