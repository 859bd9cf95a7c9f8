"""Typed results of authhost's HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional


@dataclass(frozen=True)
class InvokeResult:
    """A tool call's upstream answer (`POST /v1/tools/{tool}/invoke`)."""

    status: int
    content_type: Optional[str]
    body: Any

    @classmethod
    def from_json(cls, data: dict) -> "InvokeResult":
        return cls(
            status=data["status"],
            content_type=(data.get("headers") or {}).get("content-type"),
            body=data.get("body"),
        )


@dataclass(frozen=True)
class CredentialStatus:
    """The caller's standing with one provider (never a secret)."""

    provider: str
    type: str
    per_user: bool
    authorized: bool
    expires_at: Optional[int] = None
    scopes: List[str] = field(default_factory=list)
    connect_url: Optional[str] = None

    @classmethod
    def from_json(cls, data: dict) -> "CredentialStatus":
        return cls(
            provider=data["provider"],
            type=data["type"],
            per_user=data["per_user"],
            authorized=data["authorized"],
            expires_at=data.get("expires_at"),
            scopes=list(data.get("scopes") or []),
            connect_url=data.get("connect_url"),
        )


@dataclass(frozen=True)
class Preflight:
    """`POST /v1/auth/preflight`: `ready` when every provider is authorized."""

    ready: bool
    providers: List[CredentialStatus]

    @property
    def to_connect(self) -> List[CredentialStatus]:
        """The providers the user still has to connect (with their link)."""
        return [p for p in self.providers if not p.authorized and p.connect_url]

    @classmethod
    def from_json(cls, data: dict) -> "Preflight":
        return cls(
            ready=data["ready"],
            providers=[CredentialStatus.from_json(p) for p in data["providers"]],
        )


@dataclass(frozen=True)
class Token:
    """An access token handed out by `POST /v1/credentials/{provider}/token`.
    Its `repr` hides the token."""

    provider: str
    access_token: str = field(repr=False)
    token_type: str
    expires_at: Optional[int]
    scopes: List[str]

    @classmethod
    def from_json(cls, data: dict) -> "Token":
        return cls(
            provider=data["provider"],
            access_token=data["access_token"],
            token_type=data.get("token_type", "Bearer"),
            expires_at=data.get("expires_at"),
            scopes=list(data.get("scopes") or []),
        )


@dataclass(frozen=True)
class FlowStatus:
    """Where a connect flow stands: `pending`, `started`,
    `awaiting_confirmation`, `completed`, `refused` or `expired`."""

    provider: str
    status: str
    reason: Optional[str] = None
    expires_at: Optional[int] = None

    FINISHED = ("completed", "refused", "expired")

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @classmethod
    def from_json(cls, data: dict) -> "FlowStatus":
        return cls(
            provider=data.get("provider", ""),
            status=data["status"],
            reason=data.get("reason"),
            expires_at=data.get("expires_at"),
        )

