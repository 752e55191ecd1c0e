"""Checks shared by http_client.py and stdio_client.py.

Both scripts drive adb-mcp through the official MCP Python SDK (PyPI `mcp`,
pinned in requirements.txt) and run the same assertions on the demo database
that `adb-mcp` creates on first start.  Each assertion is one "check"; the
tally is printed and, with --report, written as JSON for run.sh to add up.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import ClientSession
from mcp import types as mcp_types
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

EXPECTED_TOOLS = ("list_schemas", "list_tables", "describe_table", "run_query", "explain_query")
REGIONS_SQL = "SELECT region_id, region_name FROM regions ORDER BY region_id"
EMPLOYEES_COUNT_SQL = "SELECT count(*) AS n FROM employees"


class CheckFailed(Exception):
    """An assertion inside a check did not hold."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Tally:
    """Collects pass/fail per named check and prints one line per check."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.results: list[dict[str, Any]] = []

    def _record(self, name: str, ok: bool, detail: str = "") -> None:
        self.results.append({"check": name, "ok": ok, "detail": detail})
        mark = "PASS" if ok else "FAIL"
        line = f"[{self.label}] {mark} {name}"
        if detail:
            line += f": {detail}"
        print(line, flush=True)

    async def run(self, name: str, body: Callable[[], Awaitable[Any]]) -> Any:
        """Run one check; any exception (assertion or SDK error) marks it failed."""
        try:
            value = await body()
        except CheckFailed as exc:
            self._record(name, False, str(exc))
            return None
        except Exception as exc:  # the SDK raises on protocol errors, schema mismatches, timeouts
            self._record(name, False, f"{type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
            return None
        self._record(name, True)
        return value

    def fail(self, name: str, detail: str) -> None:
        self._record(name, False, detail)

    def passed(self) -> int:
        return sum(1 for r in self.results if r["ok"])

    def failed(self) -> int:
        return sum(1 for r in self.results if not r["ok"])

    def finish(self, report_path: str | None) -> int:
        print(f"[{self.label}] checks passed={self.passed()} failed={self.failed()}", flush=True)
        if report_path:
            with open(report_path, "w", encoding="utf-8") as fh:
                json.dump(
                    {"label": self.label, "passed": self.passed(), "failed": self.failed(), "results": self.results},
                    fh,
                    indent=2,
                )
        return 0 if self.failed() == 0 and self.results else 1


def text_of(result: mcp_types.CallToolResult) -> str:
    """Concatenate the text blocks of a tool result."""
    return "\n".join(block.text for block in result.content if isinstance(block, mcp_types.TextContent))


def everything_said(result: mcp_types.CallToolResult) -> str:
    """Text blocks plus the structured content, for loose 'mentions X' assertions."""
    structured = json.dumps(result.structured_content) if result.structured_content is not None else ""
    return text_of(result) + "\n" + structured


def require_ok(result: mcp_types.CallToolResult, what: str) -> None:
    require(not result.is_error, f"{what} returned isError=true: {text_of(result)[:300]!r}")


def rows_of(result: mcp_types.CallToolResult) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
    """Validate the run_query structuredContent shape and return (column names, rows, whole object)."""
    sc = result.structured_content
    require(isinstance(sc, dict), f"run_query structuredContent is not an object: {sc!r:.200}")
    for key in ("columns", "rows", "row_count", "truncated"):
        require(key in sc, f"run_query structuredContent lacks {key!r}; keys={sorted(sc)}")
    # next_offset may be omitted (or null) on a complete result; it must be an
    # integer whenever the result is truncated (checked by the max_rows check).
    nxt = sc.get("next_offset")
    require(nxt is None or as_int(nxt) is not None, f"next_offset is neither absent, null nor an integer: {nxt!r}")
    columns = sc["columns"]
    require(isinstance(columns, list), "columns is not a list")
    names = []
    for col in columns:
        require(isinstance(col, dict) and "name" in col and "type" in col, f"column entry {col!r} lacks name/type")
        names.append(str(col["name"]))
    rows = sc["rows"]
    require(isinstance(rows, list) and all(isinstance(r, list) for r in rows), "rows is not a list of arrays")
    require(all(len(r) == len(names) for r in rows), "a row's width differs from the column count")
    require(isinstance(sc["truncated"], bool), f"truncated is not a boolean: {sc['truncated']!r}")
    require(sc["row_count"] == len(rows), f"row_count={sc['row_count']!r} but {len(rows)} rows were returned")
    return names, rows, sc


def as_int(value: Any) -> int | None:
    """Numbers may come back as JSON numbers or, for wide numeric types, as strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


async def list_all_tools(session: ClientSession) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(50):  # bounded: a server that loops its cursor must not hang us
        params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools
    raise CheckFailed("tools/list pagination did not end after 50 pages")


async def exercise(session: ClientSession, tally: Tally) -> None:
    """Initialize, list tools and call each tool against the demo database."""

    async def initialize() -> None:
        init = await session.initialize()
        require(
            init.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS,
            f"negotiated unknown protocol version {init.protocol_version!r}",
        )
        require(bool(init.server_info.name), "serverInfo.name is empty")
        require(init.capabilities.tools is not None, "server does not advertise the tools capability")
        print(
            f"[{tally.label}] server {init.server_info.name} {init.server_info.version}, "
            f"protocol {init.protocol_version}",
            flush=True,
        )

    await tally.run("initialize", initialize)
    if tally.failed():
        return  # nothing else can work without a session

    async def ping() -> None:
        await session.send_ping()

    await tally.run("ping", ping)

    tools_by_name: dict[str, mcp_types.Tool] = {}

    async def tools_list() -> None:
        tools = await list_all_tools(session)
        tools_by_name.update({t.name: t for t in tools})
        missing = [n for n in EXPECTED_TOOLS if n not in tools_by_name]
        require(not missing, f"missing tools {missing}; server lists {sorted(tools_by_name)}")
        for tool in tools:
            require(bool(tool.description), f"tool {tool.name} has no description")
            require(
                isinstance(tool.input_schema, dict) and tool.input_schema.get("type") == "object",
                f"tool {tool.name} inputSchema is not an object schema",
            )

    await tally.run("tools/list has the five tools with object input schemas", tools_list)

    async def run_query_schema() -> None:
        tool = tools_by_name.get("run_query")
        require(tool is not None, "run_query not listed")
        schema = tool.input_schema
        require("sql" in schema.get("properties", {}), "run_query inputSchema has no 'sql' property")
        require("sql" in schema.get("required", []), "run_query inputSchema does not require 'sql'")

    await tally.run("run_query input schema requires sql", run_query_schema)

    async def call(name: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        # call_tool also checks structuredContent against the tool's outputSchema,
        # raising RuntimeError on a mismatch: that failure is part of the check.
        result = await session.call_tool(name, arguments, read_timeout_seconds=60)
        require(isinstance(result, mcp_types.CallToolResult), f"{name} returned {type(result).__name__}")
        return result

    async def regions() -> None:
        result = await call("run_query", {"sql": REGIONS_SQL})
        require_ok(result, "regions query")
        names, rows, sc = rows_of(result)
        require([n.lower() for n in names] == ["region_id", "region_name"], f"columns are {names}")
        require(len(rows) == 5, f"expected 5 regions, got {len(rows)}")
        require(sc["truncated"] is False, "5-row result claims to be truncated")
        ids = [as_int(r[0]) for r in rows]
        require(all(i is not None for i in ids), f"region_id values are not integers: {ids}")
        require(ids == sorted(set(ids)), f"region_id not strictly ascending: {ids}")
        require(all(isinstance(r[1], str) and r[1] for r in rows), "a region_name is empty or not a string")
        require(text_of(result).strip() != "", "no text rendering next to structuredContent")

    await tally.run("run_query regions returns 5 ordered rows", regions)

    async def employees() -> None:
        result = await call("run_query", {"sql": EMPLOYEES_COUNT_SQL})
        require_ok(result, "employee count")
        names, rows, _ = rows_of(result)
        require([n.lower() for n in names] == ["n"], f"columns are {names}")
        require(len(rows) == 1, f"count returned {len(rows)} rows")
        require(as_int(rows[0][0]) == 107, f"expected 107 employees, got {rows[0][0]!r}")

    await tally.run("run_query count(*) employees = 107", employees)

    async def named_bind() -> None:
        result = await call(
            "run_query",
            {
                "sql": "SELECT region_id, region_name FROM regions WHERE region_id = :rid",
                "params": {"rid": 1},
            },
        )
        require_ok(result, "named-bind query")
        _, rows, _ = rows_of(result)
        require(len(rows) == 1 and as_int(rows[0][0]) == 1, f"expected the single region 1, got {rows!r:.200}")

    await tally.run("run_query with a named bind returns one row", named_bind)

    async def max_rows() -> None:
        result = await call("run_query", {"sql": "SELECT * FROM employees", "max_rows": 10})
        require_ok(result, "max_rows query")
        _, rows, sc = rows_of(result)
        require(len(rows) == 10, f"max_rows=10 returned {len(rows)} rows")
        require(sc["truncated"] is True, "107 rows capped at 10 must report truncated=true")
        require(as_int(sc.get("next_offset")) is not None, f"truncated result has next_offset={sc.get('next_offset')!r}")

    await tally.run("run_query max_rows=10 truncates and offers next_offset", max_rows)

    async def delete_refused() -> None:
        result = await call("run_query", {"sql": "DELETE FROM regions"})
        require(result.is_error, f"DELETE was not refused: {everything_said(result)[:300]!r}")
        require("delete" in text_of(result).lower(), f"error text does not mention DELETE: {text_of(result)!r:.300}")
        # and the table is intact afterwards
        again = await call("run_query", {"sql": REGIONS_SQL})
        require_ok(again, "regions query after refused DELETE")
        require(len(rows_of(again)[1]) == 5, "regions lost rows after the refused DELETE")

    await tally.run("run_query DELETE is a tool error mentioning DELETE", delete_refused)

    async def bad_sql() -> None:
        result = await call("run_query", {"sql": "SELEC nonsense FROM"})
        require(result.is_error, "malformed SQL did not produce isError=true")
        require(text_of(result).strip() != "", "tool error has no explanatory text")

    await tally.run("run_query malformed SQL is a tool error", bad_sql)

    if "orders_for_customer" in tools_by_name:  # served when the example tools/ are loaded

        async def declarative_tool() -> None:
            tool = tools_by_name["orders_for_customer"]
            require(tool.input_schema.get("required") == ["customer_id"], f"required is {tool.input_schema.get('required')}")
            result = await call("orders_for_customer", {"customer_id": 42, "status": "delivered"})
            require_ok(result, "orders_for_customer")
            names, rows, _ = rows_of(result)
            require(names[:3] == ["order_id", "order_date", "status"], f"columns are {names}")
            require(rows and all(r[2] == "delivered" for r in rows), f"rows are {rows!r:.200}")
            bad = await call("orders_for_customer", {"customer_id": 0})
            require(bad.is_error and "customer_id" in text_of(bad), f"customer_id 0 accepted: {text_of(bad)!r:.200}")

        await tally.run("declarative tool orders_for_customer runs and validates its arguments", declarative_tool)

    async def list_schemas() -> None:
        result = await call("list_schemas", {})
        require_ok(result, "list_schemas")

    await tally.run("list_schemas succeeds", list_schemas)

    async def list_tables() -> None:
        result = await call("list_tables", {})
        require_ok(result, "list_tables")
        said = everything_said(result).lower()
        require("regions" in said and "employees" in said, "list_tables does not mention regions and employees")

    await tally.run("list_tables mentions regions and employees", list_tables)

    async def describe_table() -> None:
        result = await call("describe_table", {"table": "regions"})
        require_ok(result, "describe_table regions")
        said = everything_said(result).lower()
        require("region_id" in said and "region_name" in said, "describe_table regions does not name its columns")

    await tally.run("describe_table regions names its columns", describe_table)

    async def explain() -> None:
        result = await call("explain_query", {"sql": REGIONS_SQL})
        require_ok(result, "explain_query")
        require(everything_said(result).strip() != "", "explain_query returned nothing")

    await tally.run("explain_query succeeds", explain)
