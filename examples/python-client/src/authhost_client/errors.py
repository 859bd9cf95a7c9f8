"""Errors authhost answers with, as exceptions."""

from __future__ import annotations

from typing import Any, Optional


class AuthhostError(Exception):
    """authhost refused or failed a request: `status`, `error` code, `message`."""

    def __init__(self, status: int, error: str, message: str, body: Optional[dict] = None):
        super().__init__(f"{status} {error}: {message}" if message else f"{status} {error}")
        self.status = status
        self.error = error
        self.message = message
        self.body = body or {}


class AuthorizationRequired(AuthhostError):
    """The user must connect `provider` first: open `auth_url` (a connect
    link) in their browser, then `wait_for_authorization(auth_url)`."""

    def __init__(self, status: int, body: dict):
        super().__init__(status, "authorization_required", body.get("message", ""), body)
        self.provider: str = body.get("provider", "")
        self.auth_url: str = body.get("auth_url", "")

    def __str__(self) -> str:
        return f"connect `{self.provider}` first at {self.auth_url}"


class CredentialsRequired(AuthhostError):
    """The user must supply their own credentials for `provider`
    (`PUT /v1/credentials/{provider}`)."""

    def __init__(self, status: int, body: dict):
        super().__init__(status, "credentials_required", body.get("message", ""), body)
        self.provider: str = body.get("provider", "")


def error_for(status: int, body: Any) -> AuthhostError:
    """The exception for an error answer."""
    if not isinstance(body, dict):
        body = {"error": "unexpected", "message": str(body)[:200]}
    error = body.get("error", "unexpected")
    if error == "authorization_required":
        return AuthorizationRequired(status, body)
    if error == "credentials_required":
        return CredentialsRequired(status, body)
    return AuthhostError(status, error, body.get("message", ""), body)
