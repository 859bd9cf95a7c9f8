"""The asynchronous client (the same API as `Client`, awaited)."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterable, List, Optional

import httpx

from . import requests as api
from .models import CredentialStatus, FlowStatus, InvokeResult, Preflight, Token


class AsyncClient:
    """authhost's HTTP API for one caller: `token` (a bearer token for
    authhost) or `user` (the trusted user header, development on loopback).

    >>> async with AsyncClient("http://127.0.0.1:8080", user="alice") as authhost:
    ...     result = await authhost.invoke("list_repos", {"per_page": 5})
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: Optional[str] = None,
        user: Optional[str] = None,
        timeout: float = 60.0,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._headers = api.auth_headers(token, user)
        self._timeout = timeout
        self._transport = transport
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._http.aclose()

    async def _send(self, call: api.Call) -> Any:
        response = await self._http.request(
            call.method,
            call.url,
            json=call.json,
            params=call.params,
            headers=call.headers,
            timeout=call.timeout if call.timeout is not None else self._timeout,
        )
        return api.read(call, response)

    async def invoke(self, tool: str, arguments: Optional[Dict[str, Any]] = None) -> InvokeResult:
        """Calls `tool` with the user's credentials. Raises
        `AuthorizationRequired` (with the connect link) when the user must
        connect the tool's provider first."""
        return await self._send(api.invoke(tool, arguments))

    async def credentials(self) -> List[CredentialStatus]:
        """The user's status with every provider."""
        return await self._send(api.credentials())

    async def credential(self, provider: str) -> CredentialStatus:
        """The user's status with one provider."""
        return await self._send(api.credential(provider))

    async def disconnect(self, provider: str) -> None:
        """Revokes (where supported) and deletes the user's grant."""
        await self._send(api.disconnect(provider))

    async def preflight(self, tools: Iterable[str] = (), providers: Iterable[str] = ()) -> Preflight:
        """Before a session: which providers the user still has to connect."""
        return await self._send(api.preflight(tools, providers))

    async def token(self, provider: str) -> Token:
        """The user's access token itself, where the workflow allows it
        (`_handout: true` and a `general.server.handout` rule)."""
        return await self._send(api.token(provider))

    async def wait_for_authorization(self, auth_url: str, timeout: float = 300.0) -> FlowStatus:
        """Waits until the flow behind a connect link finishes (or
        `timeout` seconds pass) and returns where it stands."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(1, min(api.POLL_SECONDS, int(deadline - time.monotonic())))
            status = await self._send(api.flow_status(auth_url, left))
            if status.finished or time.monotonic() >= deadline:
                return status

    def proxy(self, provider: str, **options: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` whose requests go to `provider`'s API through
        authhost (`/v1/proxy/{provider}/…`) with the user's credentials;
        paths are relative to the provider's base URL."""
        options.setdefault("timeout", self._timeout)
        if self._transport is not None:
            options.setdefault("transport", self._transport)
        headers = {**self._headers, **options.pop("headers", {})}
        return httpx.AsyncClient(base_url=api.proxy_base(self.base_url, provider), headers=headers, **options)
