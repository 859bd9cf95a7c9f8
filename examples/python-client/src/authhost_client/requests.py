"""What each API call sends and how its answer is read, shared by the sync
and the async client (they differ only in how they wait)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional
from urllib.parse import quote, urlsplit

import httpx

from .errors import error_for
from .models import CredentialStatus, FlowStatus, InvokeResult, Preflight, Token

#: How long one long-poll of a connect link waits, in seconds (authhost's most).
POLL_SECONDS = 30


@dataclass(frozen=True)
class Call:
    """One request and the reader of its successful answer."""

    method: str
    url: str
    read: Callable[[Any], Any]
    json: Optional[Any] = None
    params: Optional[Dict[str, str]] = None
    headers: Optional[Dict[str, str]] = None
    timeout: Optional[float] = None


def auth_headers(token: Optional[str], user: Optional[str]) -> Dict[str, str]:
    """`Authorization: Bearer` for a token, or the trusted user header
    (`X-User-Id`, development on loopback)."""
    if token and user:
        raise ValueError("pass either token or user, not both")
    if token:
        return {"Authorization": f"Bearer {token}"}
    if user:
        return {"X-User-Id": user}
    return {}


def segment(name: str) -> str:
    return quote(name, safe="")


def invoke(tool: str, arguments: Optional[Dict[str, Any]]) -> Call:
    return Call("POST", f"/v1/tools/{segment(tool)}/invoke", InvokeResult.from_json, json=arguments or {})


def credentials() -> Call:
    return Call("GET", "/v1/credentials", lambda data: [CredentialStatus.from_json(c) for c in data])


def credential(provider: str) -> Call:
    return Call("GET", f"/v1/credentials/{segment(provider)}", CredentialStatus.from_json)


def disconnect(provider: str) -> Call:
    return Call("DELETE", f"/v1/credentials/{segment(provider)}", lambda _: None)


def preflight(tools: Iterable[str], providers: Iterable[str]) -> Call:
    body: Dict[str, Any] = {}
    if tools:
        body["tools"] = list(tools)
    if providers:
        body["providers"] = list(providers)
    return Call("POST", "/v1/auth/preflight", Preflight.from_json, json=body)


def token(provider: str) -> Call:
    return Call("POST", f"/v1/credentials/{segment(provider)}/token", Token.from_json)


def flow_status(auth_url: str, wait: int) -> Call:
    # Only the link's path is used: the request (with the caller's
    # credentials) goes to this client's authhost, whatever host the link
    # names.
    parts = urlsplit(auth_url)
    if not parts.path.startswith("/v1/auth/flows/"):
        raise ValueError("not a connect link (/v1/auth/flows/…)")
    return Call(
        "GET",
        parts.path,
        FlowStatus.from_json,
        params={"wait": str(wait)},
        headers={"Accept": "application/json"},
        timeout=wait + 10,
    )


def read(call: Call, response: httpx.Response) -> Any:
    """The answer's value, or the error it carries as an exception."""
    if response.status_code == 204:
        return call.read(None)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if response.is_success:
        return call.read(body)
    raise error_for(response.status_code, body)


def proxy_base(base_url: str, provider: str) -> str:
    """Where an SDK's requests for `provider` go."""
    return f"{base_url.rstrip('/')}/v1/proxy/{segment(provider)}/"
