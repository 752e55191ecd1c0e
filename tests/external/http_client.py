#!/usr/bin/env python3
"""Drive a running `adb-mcp serve` over Streamable HTTP with the official MCP Python SDK.

Usage:
    .venv/bin/python http_client.py --url http://127.0.0.1:PORT/mcp \
        [--session-mode stateless|stateful] [--report out.json] [--timeout 90]

Checks: the SDK handshake, tools/list, run_query and friends on the demo DB
(mcp_checks.exercise), the transport shape the session mode promises (no
Mcp-Session-Id and JSON bodies when stateless, a session id when stateful),
and the Host/Origin allow-list (a foreign Host alone, and a foreign Origin
alone, must each get 403).  Exit status 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_checks import Tally, exercise, require

INIT_BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "adb-mcp-external-raw-probe", "version": "0"},
    },
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
    ap.add_argument("--session-mode", choices=["stateless", "stateful", "any"], default="any")
    ap.add_argument("--report", help="write the check tally here as JSON")
    ap.add_argument("--timeout", type=float, default=90.0, help="overall deadline in seconds")
    return ap.parse_args()


async def sdk_checks(url: str, mode: str, tally: Tally) -> None:
    seen: list[httpx2.Response] = []

    async def remember(response: httpx2.Response) -> None:
        if response.request.method == "POST":
            seen.append(response)

    # trust_env=False: never route loopback traffic through a proxy from the environment.
    client = httpx2.AsyncClient(
        timeout=httpx2.Timeout(30.0, read=60.0),
        trust_env=False,
        event_hooks={"response": [remember]},
    )
    async with client:
        async with streamable_http_client(url, http_client=client) as (read_stream, write_stream):
            async with ClientSession(read_stream, write_stream, read_timeout_seconds=60) as session:
                await exercise(session, tally)

    async def transport_shape() -> None:
        require(bool(seen), "no POST responses were observed")
        session_ids = {r.headers.get("mcp-session-id") for r in seen} - {None}
        if mode == "stateless":
            require(not session_ids, f"stateless server issued Mcp-Session-Id {sorted(session_ids)}")
            kinds = {r.headers.get("content-type", "").split(";")[0].strip() for r in seen if r.status_code == 200}
            require(kinds <= {"application/json"}, f"stateless server answered with content types {sorted(kinds)}")
        elif mode == "stateful":
            require(len(session_ids) == 1, f"stateful server should issue exactly one session id, saw {session_ids}")

    if mode != "any":
        await tally.run(f"transport matches --session-mode {mode}", transport_shape)


async def origin_checks(url: str, tally: Tally) -> None:
    """The allow-list must reject a foreign Host, and separately a foreign Origin, with 403."""
    netloc = urlsplit(url).netloc
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0), trust_env=False) as client:

        async def post(extra: dict[str, str]) -> httpx2.Response:
            return await client.post(url, json=INIT_BODY, headers={**MCP_HEADERS, **extra})

        async def foreign_host() -> None:
            r = await post({"Host": "evil.example.com"})
            require(r.status_code == 403, f"foreign Host got HTTP {r.status_code}, want 403")

        async def foreign_origin() -> None:
            r = await post({"Origin": "http://evil.example.com"})
            require(r.status_code == 403, f"foreign Origin got HTTP {r.status_code}, want 403")

        async def local_origin() -> None:
            r = await post({"Origin": f"http://{netloc}"})
            require(r.status_code == 200, f"loopback Origin http://{netloc} got HTTP {r.status_code}, want 200")
            sid = r.headers.get("mcp-session-id")
            if sid:  # stateful: end the probe's session politely
                await client.delete(url, headers={"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})

        await tally.run("foreign Host header is refused with 403", foreign_host)
        await tally.run("foreign Origin header is refused with 403", foreign_origin)
        await tally.run("loopback Origin header is accepted", local_origin)


async def main() -> int:
    args = parse_args()
    tally = Tally(f"python-sdk http {args.session_mode}")
    try:
        with anyio.fail_after(args.timeout):
            await sdk_checks(args.url, args.session_mode, tally)
            await origin_checks(args.url, tally)
    except TimeoutError:
        tally.fail("deadline", f"gave up after {args.timeout:.0f}s")
    except Exception as exc:  # transport could not even connect, etc.
        tally.fail("connect", f"{type(exc).__name__}: {exc}")
    return tally.finish(args.report)


if __name__ == "__main__":
    sys.exit(anyio.run(main))
