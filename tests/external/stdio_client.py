#!/usr/bin/env python3
"""Spawn `adb-mcp stdio --data-dir DIR` and drive it with the official MCP Python SDK.

Usage:
    .venv/bin/python stdio_client.py --binary /path/to/adb-mcp --data-dir DIR \
        [--report out.json] [--timeout 90] [--stderr-log server.log]

Runs the same checks as http_client.py (mcp_checks.exercise) over stdio.
The SDK owns the child process and stops it when the session closes.
Exit status 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import os
import sys

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from mcp_checks import Tally, exercise


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="path to the adb-mcp executable")
    ap.add_argument("--data-dir", required=True, help="fresh directory for the demo database")
    ap.add_argument("--report", help="write the check tally here as JSON")
    ap.add_argument("--timeout", type=float, default=90.0, help="overall deadline in seconds")
    ap.add_argument("--stderr-log", help="file for the server's stderr (default: our stderr)")
    return ap.parse_args()


async def main() -> int:
    args = parse_args()
    tally = Tally("python-sdk stdio")
    params = StdioServerParameters(
        command=os.path.abspath(args.binary),
        args=["stdio", "--data-dir", args.data_dir],
        cwd=args.data_dir,  # no stray adb-mcp.toml from the caller's directory
        # The SDK passes only a small safe environment by default; keep RUST_LOG if set.
        env={k: v for k, v in os.environ.items() if k in ("RUST_LOG", "RUST_BACKTRACE")},
    )
    errlog = open(args.stderr_log, "a", encoding="utf-8") if args.stderr_log else sys.stderr
    try:
        with anyio.fail_after(args.timeout):
            async with stdio_client(params, errlog=errlog) as (read_stream, write_stream):
                async with ClientSession(read_stream, write_stream, read_timeout_seconds=60) as session:
                    await exercise(session, tally)
    except TimeoutError:
        tally.fail("deadline", f"gave up after {args.timeout:.0f}s")
    except Exception as exc:  # spawn failure, server exited early, broken pipe...
        tally.fail("spawn/connect", f"{type(exc).__name__}: {exc}")
    finally:
        if errlog is not sys.stderr:
            errlog.close()
    return tally.finish(args.report)


if __name__ == "__main__":
    sys.exit(anyio.run(main))
