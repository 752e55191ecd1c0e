#!/usr/bin/env python3
"""End-to-end OAuth 2.1 test of adb-mcp as an MCP resource server, driven by the official
MCP Python SDK (PyPI `mcp`, pinned in ../requirements.txt) against provider.mjs.

Usage (from tests/external, with provider.mjs and `adb-mcp serve` already running):
    .venv/bin/python oauth/oauth_client.py --url http://127.0.0.1:MCPPORT/mcp \
        --issuer http://127.0.0.1:PORT --metadata shim|direct \
        --redirect-uri http://127.0.0.1:CBPORT/callback [--client confidential|public] \
        [--token-out FILE] [--report out.json] [--timeout 90] [--expect-iss-mismatch] [--sdk-only]

Raw HTTP checks first (the 401 challenge without a token and with a bad one, the protected
resource metadata, and in shim mode our authorization server metadata), then the SDK's
`OAuthClientProvider` does the whole flow: 401 -> protected resource metadata ->
authorization server metadata -> pre-registered client (no dynamic registration) ->
authorization code with PKCE S256 and `resource` -> token -> MCP calls, then a refresh.

The "browser" is `ScriptedBrowser`: it follows the authorization URL with a cookie-keeping
httpx client, fills the login form (first with a wrong password, which must be refused),
submits the consent form as served, and follows redirects until the Location is the
redirect URI; code, state and iss from there go to the SDK's callback handler.

--expect-iss-mismatch: for shim mode against an authorization server that sends the RFC 9207
`iss` parameter. The shim names our own origin as issuer, so a client that checks `iss` (the
SDK does) must refuse the authorization response; the check passes when it does.

One line per check ("[label] PASS name" / "[label] FAIL name: why"); exit 0 only if all passed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mcp_checks import (  # noqa: E402  (shared with http_client.py / stdio_client.py)
    EMPLOYEES_COUNT_SQL,
    EXPECTED_TOOLS,
    CheckFailed,
    Tally,
    as_int,
    list_all_tools,
    require,
    require_ok,
    rows_of,
)

OTHER_RESOURCE = "urn:adb-mcp-test:other-api"  # provider.mjs issues tokens for it too
CONFIDENTIAL_CLIENT_ID = "adb-mcp-test"
PUBLIC_CLIENT_ID = "adb-mcp-test-public"
INIT_BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "adb-mcp-oauth-raw-probe", "version": "0"},
    },
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
    ap.add_argument("--issuer", required=True, help="the provider's issuer, e.g. http://127.0.0.1:9000")
    ap.add_argument("--metadata", choices=["shim", "direct"], required=True, help="the server's [auth] metadata mode")
    ap.add_argument("--redirect-uri", required=True, help="redirect URI registered for the client")
    ap.add_argument("--client", choices=["confidential", "public"], default="confidential")
    ap.add_argument("--client-secret", default="adb-mcp-test-secret")
    ap.add_argument("--username", default="alice")
    ap.add_argument("--password", default="alice-password")
    ap.add_argument("--scope", default="mcp.tools", help="scope the server requires (advertised in PRM and 401)")
    ap.add_argument("--jwt-alg", default="RS256", help="expected alg of the access token")
    ap.add_argument("--token-out", help="write the final access token here (for the Inspector CLI)")
    ap.add_argument("--expect-iss-mismatch", action="store_true", help="see the module docstring")
    ap.add_argument("--sdk-only", action="store_true", help="skip the raw HTTP checks (another run did them)")
    ap.add_argument("--report", help="write the check tally here as JSON")
    ap.add_argument("--timeout", type=float, default=90.0, help="overall deadline in seconds")
    return ap.parse_args()


# ---------------------------------------------------------------- WWW-Authenticate
def parse_bearer_challenge(header: str | None) -> dict[str, str] | None:
    """Parameters of a `Bearer` challenge (RFC 6750 §3 auth-params), or None if there is none."""
    if not header:
        return None
    text = header.strip()
    if not text.lower().startswith("bearer"):
        return None
    text = text[len("bearer") :]
    params: dict[str, str] = {}
    i = 0
    while i < len(text):
        while i < len(text) and text[i] in " ,\t":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        name = text[i:eq].strip().lower()
        i = eq + 1
        if i < len(text) and text[i] == '"':
            i += 1
            value = []
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                value.append(text[i])
                i += 1
            i += 1
            params[name] = "".join(value)
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            params[name] = text[i:end].strip()
            i = end
    return params


# ---------------------------------------------------------------- scripted browser
class FormParser(HTMLParser):
    """Collects every <form>: its action, method and named <input>/<button> fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": []})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            self.forms[-1]["fields"].append((a["name"], a.get("type", "text").lower(), a.get("value", "")))


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


class ScriptedBrowser:
    """Plays the user agent: GET the authorization URL, log in, consent, stop at the redirect URI."""

    MAX_STEPS = 20

    def __init__(self, redirect_uri: str, username: str, password: str) -> None:
        self.redirect_uri = redirect_uri
        self.username = username
        self.password = password
        self.authorization_url: str | None = None
        self.callback: dict[str, str] | None = None
        self.wrong_password_refused: str | None = None  # None = not tried yet; "" = refused as it should
        self.trail: list[str] = []  # "METHOD URL -> status" lines, for failure messages

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_url = authorization_url
        async with httpx2.AsyncClient(trust_env=False, timeout=httpx2.Timeout(30.0)) as ua:
            response = await self._send(ua, "GET", authorization_url)
            for _ in range(self.MAX_STEPS):
                if response.status_code in (301, 302, 303, 307, 308):
                    location = urljoin(str(response.url), response.headers.get("location", ""))
                    if location.split("?", 1)[0] == self.redirect_uri:
                        query = parse_qs(urlsplit(location).query)
                        self.callback = {k: v[0] for k, v in query.items()}
                        return
                    response = await self._send(ua, "GET", location)
                    continue
                forms = forms_of(response.text) if response.status_code == 200 else []
                if len(forms) != 1:
                    raise RuntimeError(
                        f"authorization UI: expected a page with one form, got HTTP {response.status_code} "
                        f"with {len(forms)} forms: {response.text[:300]!r}; trail: {self.trail}"
                    )
                response = await self._submit(ua, response, forms[0])
            raise RuntimeError(f"authorization UI: no redirect to {self.redirect_uri} after {self.MAX_STEPS} steps")

    async def callback_handler(self) -> AuthorizationCodeResult:
        cb = self.callback or {}
        if "error" in cb:
            raise RuntimeError(f"authorization server answered error={cb['error']}: {cb.get('error_description')}")
        if "code" not in cb:
            raise RuntimeError(f"redirect to {self.redirect_uri} carried no code: {cb}")
        # Everything the redirect carried goes to the SDK, `iss` included, as a real
        # client's loopback listener would pass it on (RFC 9207 mix-up defence).
        return AuthorizationCodeResult(code=cb["code"], state=cb.get("state"), iss=cb.get("iss"))

    async def _send(self, ua: httpx2.AsyncClient, method: str, url: str, **kw: Any) -> httpx2.Response:
        response = await ua.request(method, url, follow_redirects=False, **kw)
        self.trail.append(f"{method} {url.split('?')[0]} -> {response.status_code}")
        return response

    async def _submit(self, ua: httpx2.AsyncClient, page: httpx2.Response, form: dict[str, Any]) -> httpx2.Response:
        action = urljoin(str(page.url), form["action"] or str(page.url))
        fields = {name: value for name, kind, value in form["fields"] if kind in ("hidden", "text", "submit")}
        names = {name for name, _, _ in form["fields"]}
        if "password" in names:  # the login form
            fields["login"] = self.username
            if self.wrong_password_refused is None:
                bad = await self._send(ua, "POST", action, data={**fields, "password": self.password + "-wrong"})
                again = forms_of(bad.text)
                if bad.status_code in (200, 401) and again and any(n == "password" for n, _, _ in again[0]["fields"]):
                    self.wrong_password_refused = ""
                else:
                    self.wrong_password_refused = f"wrong password got HTTP {bad.status_code} without a login form"
                    raise RuntimeError(self.wrong_password_refused)
            fields["password"] = self.password
        if form["method"] == "post":
            return await self._send(ua, "POST", action, data=fields)
        return await self._send(ua, "GET", action, params=fields)


class MemoryStorage:
    """The SDK's TokenStorage: pre-registered client information and the tokens it obtains."""

    def __init__(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info
        self.tokens: OAuthToken | None = None
        self.client_info_writes = 0

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info_writes += 1  # would mean the SDK registered a client of its own
        self.client_info = client_info


# ---------------------------------------------------------------- checks
INIT_CHECK = "SDK OAuth flow (pre-registered client, PKCE, resource) then initialize"
ISS_CHECK = "shim + RFC 9207 provider: SDK refuses the response iss (mix-up defence)"


def root_causes(exc: BaseException) -> str:
    """The leaf exceptions of an exception (group) chain, as one line."""
    leaves: list[str] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        elif e.__cause__ is not None:
            walk(e.__cause__)
        else:
            leaves.append(f"{type(e).__name__}: {e}")

    walk(exc)
    return "; ".join(leaves)[:1000]


def jwt_segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Run:
    def __init__(self, args: argparse.Namespace, tally: Tally) -> None:
        self.args = args
        self.tally = tally
        parts = urlsplit(args.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.resource = args.url
        self.prm_url = f"{self.origin}/.well-known/oauth-protected-resource{parts.path}"
        self.expected_as = self.origin if args.metadata == "shim" else args.issuer
        self.provider_meta: dict[str, Any] = {}
        self.http = httpx2.AsyncClient(trust_env=False, timeout=httpx2.Timeout(30.0))

    async def get_json(self, url: str) -> dict[str, Any]:
        r = await self.http.get(url)
        require(r.status_code == 200, f"GET {url} -> HTTP {r.status_code}")
        try:
            body = r.json()
        except ValueError as exc:
            raise CheckFailed(f"GET {url}: not JSON: {exc}") from exc
        require(isinstance(body, dict), f"GET {url}: not a JSON object")
        return body

    async def post_mcp(self, token: str | None) -> httpx2.Response:
        headers = dict(MCP_HEADERS)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.post(self.args.url, json=INIT_BODY, headers=headers)

    # ---- raw HTTP: challenge and metadata
    async def raw_checks(self) -> None:
        t = self.tally
        a = self.args

        async def provider_discovery() -> None:
            self.provider_meta = await self.get_json(f"{a.issuer}/.well-known/openid-configuration")
            require(self.provider_meta.get("issuer") == a.issuer, f"provider issuer is {self.provider_meta.get('issuer')}")

        await t.run("provider discovery document is served", provider_discovery)
        if a.sdk_only:
            return

        async def no_token() -> None:
            r = await self.post_mcp(None)
            require(r.status_code == 401, f"HTTP {r.status_code}, want 401")
            header = r.headers.get("www-authenticate")
            ch = parse_bearer_challenge(header)
            require(ch is not None, f"no Bearer challenge in WWW-Authenticate: {header!r}")
            require(
                ch.get("resource_metadata") == self.prm_url,
                f'resource_metadata is {ch.get("resource_metadata")!r}, want "{self.prm_url}" (header {header!r})',
            )

        await t.run("no token: POST /mcp -> 401 Bearer resource_metadata=<PRM URL>", no_token)

        async def no_token_scope() -> None:
            r = await self.post_mcp(None)
            ch = parse_bearer_challenge(r.headers.get("www-authenticate")) or {}
            require(ch.get("scope") == a.scope, f"challenge scope is {ch.get('scope')!r}, want {a.scope!r}")

        await t.run(f'no token: 401 challenge has scope="{a.scope}"', no_token_scope)

        async def garbage() -> None:
            r = await self.post_mcp("not-a-real-token")
            require(r.status_code == 401, f"HTTP {r.status_code}, want 401")
            ch = parse_bearer_challenge(r.headers.get("www-authenticate")) or {}
            require(ch.get("error") == "invalid_token", f"WWW-Authenticate is {r.headers.get('www-authenticate')!r}")

        await t.run('garbage token -> 401 error="invalid_token"', garbage)

        async def forged() -> None:
            # Claims the provider would issue, signed by a key the provider never published.
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            now = int(time.time())
            claims = {"iss": a.issuer, "aud": self.resource, "sub": a.username, "scope": a.scope,
                      "iat": now, "exp": now + 300, "client_id": CONFIDENTIAL_CLIENT_ID, "jti": "forged"}
            token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-rs256", "typ": "at+jwt"})
            r = await self.post_mcp(token)
            require(r.status_code == 401, f"HTTP {r.status_code}, want 401")
            ch = parse_bearer_challenge(r.headers.get("www-authenticate")) or {}
            require(ch.get("error") == "invalid_token", f"WWW-Authenticate is {r.headers.get('www-authenticate')!r}")

        await t.run('JWT signed by an unknown key (kid of the real one) -> 401 invalid_token', forged)

        def check_prm(prm: dict[str, Any]) -> None:
            require(prm.get("resource") == self.resource, f"resource is {prm.get('resource')!r}, want {self.resource!r}")
            require(
                prm.get("authorization_servers") == [self.expected_as],
                f"authorization_servers is {prm.get('authorization_servers')!r}, want [{self.expected_as!r}]",
            )
            require(a.scope in (prm.get("scopes_supported") or []), f"scopes_supported is {prm.get('scopes_supported')!r}")
            require(prm.get("bearer_methods_supported") == ["header"],
                    f"bearer_methods_supported is {prm.get('bearer_methods_supported')!r}")

        async def prm_path() -> None:
            check_prm(await self.get_json(self.prm_url))

        await t.run(f"protected resource metadata at {urlsplit(self.prm_url).path} ({a.metadata})", prm_path)

        async def prm_root() -> None:
            check_prm(await self.get_json(f"{self.origin}/.well-known/oauth-protected-resource"))

        await t.run("protected resource metadata at /.well-known/oauth-protected-resource", prm_root)

        if a.metadata == "shim":
            for well_known in ("oauth-authorization-server", "openid-configuration"):

                async def shim(well_known: str = well_known) -> None:
                    meta = await self.get_json(f"{self.origin}/.well-known/{well_known}")
                    require(meta.get("issuer") == self.origin, f"issuer is {meta.get('issuer')!r}, want {self.origin!r}")
                    for endpoint in ("authorization_endpoint", "token_endpoint"):
                        require(
                            meta.get(endpoint) == self.provider_meta.get(endpoint),
                            f"{endpoint} is {meta.get(endpoint)!r}, provider says {self.provider_meta.get(endpoint)!r}",
                        )
                    require(meta.get("code_challenge_methods_supported") == ["S256"],
                            f"code_challenge_methods_supported is {meta.get('code_challenge_methods_supported')!r}")
                    require("registration_endpoint" not in meta, "registration_endpoint is advertised")

                await t.run(f"shim: /.well-known/{well_known} = provider metadata with our issuer", shim)
        else:

            async def direct() -> None:
                r = await self.http.get(f"{self.origin}/.well-known/oauth-authorization-server")
                require(r.status_code == 404, f"direct mode serves authorization server metadata (HTTP {r.status_code})")

            await t.run("direct: no authorization server metadata at our origin (404)", direct)

    # ---- genuine provider tokens the server must still refuse
    async def manual_token(self, resource: str, scope: str) -> str:
        """Authorization code + PKCE by hand (no SDK), for tokens the SDK would never ask for."""
        a = self.args
        public = a.client == "public"
        client_id = PUBLIC_CLIENT_ID if public else CONFIDENTIAL_CLIENT_ID
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        state = secrets.token_urlsafe(16)
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": a.redirect_uri, "scope": scope,
                  "state": state, "code_challenge": challenge, "code_challenge_method": "S256", "resource": resource}
        browser = ScriptedBrowser(a.redirect_uri, a.username, a.password)
        auth = str(httpx2.URL(self.provider_meta["authorization_endpoint"], params=params))
        await browser.redirect_handler(auth)
        result = await browser.callback_handler()
        require(result.state == state, "state mismatch")
        form = {"grant_type": "authorization_code", "code": result.code, "redirect_uri": a.redirect_uri,
                "code_verifier": verifier, "client_id": client_id, "resource": resource}
        if not public:
            form["client_secret"] = a.client_secret
        r = await self.http.post(self.provider_meta["token_endpoint"], data=form)
        require(r.status_code == 200, f"token endpoint: HTTP {r.status_code} {r.text[:300]}")
        return str(r.json()["access_token"])

    async def refused_token_checks(self) -> None:
        t = self.tally
        a = self.args

        async def wrong_audience() -> None:
            token = await self.manual_token(OTHER_RESOURCE, a.scope)
            require(jwt_segment(token, 1).get("aud") == OTHER_RESOURCE, "the provider did not mint the token asked for")
            r = await self.post_mcp(token)
            require(r.status_code == 401, f"HTTP {r.status_code}, want 401")
            ch = parse_bearer_challenge(r.headers.get("www-authenticate")) or {}
            require(ch.get("error") == "invalid_token", f"WWW-Authenticate is {r.headers.get('www-authenticate')!r}")

        await t.run(f"provider token for another audience ({OTHER_RESOURCE}) -> 401 invalid_token", wrong_audience)

        async def missing_scope() -> None:
            token = await self.manual_token(self.resource, "mcp.admin")
            claim = str(jwt_segment(token, 1).get("scope", ""))
            require(a.scope not in claim.split(), f"the provider granted {claim!r} anyway")
            r = await self.post_mcp(token)
            header = r.headers.get("www-authenticate")
            require(r.status_code == 403, f"HTTP {r.status_code}, want 403 (WWW-Authenticate {header!r})")
            ch = parse_bearer_challenge(header) or {}
            require(ch.get("error") == "insufficient_scope", f"WWW-Authenticate is {header!r}")
            require(a.scope in ch.get("scope", "").split(), f"challenge scope is {ch.get('scope')!r}, want {a.scope}")

        await t.run(f"provider token with scope 'mcp.admin' only -> 403 insufficient_scope, scope={a.scope}",
                    missing_scope)

    # ---- the SDK flow
    async def sdk_checks(self) -> None:
        a = self.args
        public = a.client == "public"
        client_id = PUBLIC_CLIENT_ID if public else CONFIDENTIAL_CLIENT_ID
        method = "none" if public else "client_secret_post"
        storage = MemoryStorage(
            OAuthClientInformationFull(
                client_id=client_id,
                client_secret=None if public else a.client_secret,
                token_endpoint_auth_method=method,
                redirect_uris=[a.redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
            )
        )
        browser = ScriptedBrowser(a.redirect_uri, a.username, a.password)
        oauth = OAuthClientProvider(
            server_url=a.url,
            client_metadata=OAuthClientMetadata(
                redirect_uris=[a.redirect_uri],
                token_endpoint_auth_method=method,
                grant_types=["authorization_code", "refresh_token"],
                client_name="adb-mcp OAuth e2e test",
            ),
            storage=storage,
            redirect_handler=browser.redirect_handler,
            callback_handler=browser.callback_handler,
        )

        sent: list[tuple[str, str, dict[str, list[str]]]] = []  # method, URL, form fields
        statuses: list[tuple[str, str, int]] = []

        async def on_request(request: httpx2.Request) -> None:
            form: dict[str, list[str]] = {}
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                form = parse_qs(request.content.decode())
            sent.append((request.method, str(request.url), form))

        async def on_response(response: httpx2.Response) -> None:
            statuses.append((response.request.method, str(response.request.url), response.status_code))

        client = httpx2.AsyncClient(
            auth=oauth,
            trust_env=False,
            timeout=httpx2.Timeout(30.0, read=60.0),
            event_hooks={"request": [on_request], "response": [on_response]},
        )

        # An error inside the OAuth flow surfaces from the transport's task group, not
        # from the awaited MCP call, so the whole connection is one try block.
        initialized: list[bool] = []
        try:
            async with client, streamable_http_client(a.url, http_client=client) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=60) as session:
                    if a.expect_iss_mismatch:
                        await session.initialize()
                        initialized.append(True)
                    else:
                        await self.sdk_flow(session, oauth, storage, browser, sent, statuses, initialized)
        except Exception as exc:  # noqa: BLE001
            why = root_causes(exc)
            if a.expect_iss_mismatch:
                await self.tally.run(ISS_CHECK, lambda: self.iss_refused(browser, why))
                return
            print(f"[{self.tally.label}] browser trail: {browser.trail}", flush=True)
            print(f"[{self.tally.label}] requests: {[(m, u.split('?')[0], s) for m, u, s in statuses]}", flush=True)
            name = "MCP session over the OAuth-authorized connection" if initialized else INIT_CHECK
            self.tally.fail(name, why)
            return
        if a.expect_iss_mismatch:
            self.tally.fail(ISS_CHECK, "the SDK accepted an authorization response whose iss "
                            f"({(browser.callback or {}).get('iss')}) is not the shim's issuer ({self.origin})")

    async def iss_refused(self, browser: ScriptedBrowser, why: str) -> None:
        require(browser.callback is not None, f"the flow failed before the redirect: {why}")
        require("iss" in browser.callback, f"the provider sent no iss parameter: {browser.callback}")
        require("iss mismatch" in why, f"the flow failed, but not on iss: {why}")
        print(f"[{self.tally.label}] refused as expected: {why}", flush=True)

    async def sdk_flow(
        self,
        session: ClientSession,
        oauth: OAuthClientProvider,
        storage: MemoryStorage,
        browser: ScriptedBrowser,
        sent: list[tuple[str, str, dict[str, list[str]]]],
        statuses: list[tuple[str, str, int]],
        initialized: list[bool],
    ) -> None:
        t = self.tally
        a = self.args

        async def initialize() -> None:
            init = await session.initialize()
            initialized.append(True)
            require(init.capabilities.tools is not None, "server does not advertise the tools capability")
            print(f"[{t.label}] server {init.server_info.name} {init.server_info.version}, "
                  f"protocol {init.protocol_version}", flush=True)

        await t.run(INIT_CHECK, initialize)
        if t.failed():
            print(f"[{t.label}] browser trail: {browser.trail}", flush=True)
            print(f"[{t.label}] requests: {[(m, u.split('?')[0], s) for m, u, s in statuses]}", flush=True)
            return

        async def discovery_steps() -> None:
            urls = [(m, u.split("?")[0], s) for m, u, s in statuses]
            require(urls and urls[0][2] == 401, f"first request did not get 401: {urls[:1]}")
            require(("GET", self.prm_url, 200) in urls, f"PRM {self.prm_url} was not fetched with 200: {urls}")
            asm = [u for m, u, s in urls if m == "GET" and s == 200 and "/.well-known/o" in u and "protected" not in u]
            require(asm, f"no authorization server metadata was fetched: {urls}")
            require(asm[0].startswith(self.expected_as + "/"), f"metadata came from {asm[0]}, want {self.expected_as}")
            regs = [u for m, u, _ in urls if m == "POST" and ("regist" in u or u.endswith("/reg"))]
            require(not regs and storage.client_info_writes == 0, f"the SDK registered a client: {regs}")

        await t.run("flow: 401 -> PRM -> AS metadata, no dynamic registration", discovery_steps)

        async def authorization_request() -> None:
            url = browser.authorization_url
            require(url is not None, "redirect_handler was never called")
            q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            require(url.split("?")[0] == self.provider_meta.get("authorization_endpoint"),
                    f"authorization endpoint {url.split('?')[0]}")
            require(q.get("code_challenge_method") == "S256" and len(q.get("code_challenge", "")) == 43,
                    f"PKCE params: {q.get('code_challenge_method')!r} {q.get('code_challenge')!r}")
            require(q.get("resource") == self.resource, f"resource={q.get('resource')!r}, want {self.resource!r}")
            require(a.scope in q.get("scope", "").split(), f"scope={q.get('scope')!r} lacks {a.scope}")
            print(f"[{t.label}] authorization request: client_id={q.get('client_id')} scope={q.get('scope')!r} "
                  f"resource={q.get('resource')} prompt={q.get('prompt')}", flush=True)
            require(browser.wrong_password_refused == "", f"wrong password: {browser.wrong_password_refused}")
            print(f"[{t.label}] redirect carried: {sorted(browser.callback or {})}", flush=True)

        await t.run("authorization request: S256 PKCE, resource, scope; login refuses a wrong password",
                    authorization_request)

        def token_requests(grant: str) -> list[dict[str, list[str]]]:
            token_url = self.provider_meta.get("token_endpoint")
            return [f for m, u, f in sent if m == "POST" and u == token_url and f.get("grant_type") == [grant]]

        async def token_request() -> None:
            reqs = token_requests("authorization_code")
            require(len(reqs) == 1, f"{len(reqs)} authorization_code token requests")
            f = reqs[0]
            require(f.get("resource") == [self.resource], f"token request resource={f.get('resource')}")
            require(bool(f.get("code_verifier")), "no code_verifier")
            if a.client == "confidential":
                require(f.get("client_secret") == [a.client_secret], "client_secret not sent in the body")
            else:
                require("client_secret" not in f, "a public client sent client_secret")

        await t.run("token request: authorization_code with resource and code_verifier", token_request)

        async def token_claims() -> None:
            tok = oauth.context.current_tokens
            require(tok is not None, "no tokens")
            header = jwt_segment(tok.access_token, 0)
            require(header.get("alg") == a.jwt_alg, f"alg {header.get('alg')}, want {a.jwt_alg}")
            jwks = jwt.PyJWKSet.from_dict(await self.get_json(self.provider_meta["jwks_uri"]))
            claims = jwt.decode(tok.access_token, jwks[header["kid"]].key, algorithms=[a.jwt_alg],
                                audience=self.resource, issuer=a.issuer)
            require(a.scope in str(claims.get("scope", "")).split(), f"scope claim {claims.get('scope')!r}")
            print(f"[{t.label}] access token: typ={header.get('typ')} kid={header.get('kid')} "
                  f"iss={claims['iss']} aud={claims['aud']} scope={claims.get('scope')!r} "
                  f"client_id={claims.get('client_id')} sub={claims.get('sub')}; token response scope="
                  f"{tok.scope!r}, refresh_token={'yes' if tok.refresh_token else 'no'}", flush=True)

        await t.run(f"access token: {a.jwt_alg} JWT from the provider, aud=resource, scope has {a.scope}",
                    token_claims)

        async def tools() -> None:
            names = {tool.name for tool in await list_all_tools(session)}
            missing = [n for n in EXPECTED_TOOLS if n not in names]
            require(not missing, f"missing tools {missing}")

        await t.run("tools/list with the token lists the five tools", tools)

        async def employees() -> None:
            result = await session.call_tool("run_query", {"sql": EMPLOYEES_COUNT_SQL}, read_timeout_seconds=60)
            require_ok(result, "employee count")
            _, rows, _ = rows_of(result)
            require(len(rows) == 1 and as_int(rows[0][0]) == 107, f"rows {rows!r}, want [[107]]")

        await t.run("tools/call run_query count(*) employees -> 107", employees)

        async def refresh() -> None:
            before = oauth.context.current_tokens
            require(before is not None and before.refresh_token, "no refresh token was issued (offline_access?)")
            oauth.context.token_expiry_time = 1.0  # pretend it expired: the next request refreshes first
            names = {tool.name for tool in await list_all_tools(session)}
            require("run_query" in names, "tools/list after the refresh lacks run_query")
            reqs = token_requests("refresh_token")
            require(len(reqs) == 1, f"{len(reqs)} refresh_token requests")
            require(reqs[0].get("resource") == [self.resource], f"refresh resource={reqs[0].get('resource')}")
            after = oauth.context.current_tokens
            require(after is not None and after.access_token != before.access_token, "no new access token")

        await t.run("refresh_token grant (with resource) -> new token the server accepts", refresh)

        if a.token_out and oauth.context.current_tokens:
            Path(a.token_out).write_text(oauth.context.current_tokens.access_token + "\n", encoding="utf-8")
            print(f"[{t.label}] access token written to {a.token_out}", flush=True)


async def main() -> int:
    args = parse_args()
    label = f"python-sdk oauth {args.metadata}/{args.client}" + (" iss-mismatch" if args.expect_iss_mismatch else "")
    tally = Tally(label)
    run = Run(args, tally)
    try:
        with anyio.fail_after(args.timeout):
            async with run.http:
                await run.raw_checks()
                await run.sdk_checks()
                if not (args.sdk_only or args.expect_iss_mismatch):
                    await run.refused_token_checks()
    except TimeoutError:
        tally.fail("deadline", f"gave up after {args.timeout:.0f}s")
    except Exception as exc:  # noqa: BLE001  (transport could not even connect, etc.)
        tally.fail("connect", f"{type(exc).__name__}: {exc}")
    return tally.finish(args.report)


if __name__ == "__main__":
    sys.exit(anyio.run(main))
