"""The `authhost` auth provider for NeMo Agent Toolkit workflows.

    authentication:
      github:
        _type: authhost
        base_url: https://authhost.example.com
        provider: github          # the provider instance in authhost's workflow
        token: ${AUTHHOST_TOKEN}  # this agent's credential for authhost

`authenticate(user_id)` takes the user's current access token from
`POST /v1/credentials/{provider}/token` (authhost refreshes it when due;
its workflow must allow the hand-out) and returns it as a bearer
credential with its expiry. When the user has not connected the account,
`AuthorizationRequired` carries the connect link to show them.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import Field, SecretStr

from authhost_client import AsyncClient
from nat.authentication.interfaces import AuthProviderBase
from nat.data_models.authentication import AuthProviderBaseConfig, AuthResult, BearerTokenCred
from nat.data_models.common import SerializableSecretStr


class AuthhostAuthProviderConfig(AuthProviderBaseConfig, name="authhost"):
    """Credentials from authhost for the calling user."""

    base_url: str = Field(description="Where authhost serves its HTTP API.")
    provider: str = Field(description="The provider instance in authhost's workflow.")
    token: SerializableSecretStr | None = Field(
        default=None,
        description="This agent's bearer token for authhost (its inbound JWT).",
    )
    trust_user_header: bool = Field(
        default=False,
        description="Name the user with authhost's trusted user header instead "
        "(authhost on loopback with `trust_user_header`, development only).",
    )
    timeout: float = Field(default=30.0, description="Seconds to wait for authhost.")


class AuthhostAuthProvider(AuthProviderBase[AuthhostAuthProviderConfig]):
    """Takes the user's access token from authhost's guarded hand-out."""

    async def authenticate(self, user_id: str | None = None, **kwargs) -> AuthResult:
        config = self.config
        if config.trust_user_header:
            if not user_id:
                raise ValueError("authhost: trust_user_header needs a user_id")
            identity = {"user": user_id}
        elif config.token is not None:
            identity = {"token": config.token.get_secret_value()}
        else:
            raise ValueError("authhost: set `token` (or `trust_user_header` in development)")
        async with AsyncClient(config.base_url, timeout=config.timeout, **identity) as authhost:
            handed = await authhost.token(config.provider)
        expires = (
            datetime.fromtimestamp(handed.expires_at, tz=timezone.utc)
            if handed.expires_at is not None
            else None
        )
        return AuthResult(
            credentials=[BearerTokenCred(token=SecretStr(handed.access_token), scheme=handed.token_type)],
            token_expires_at=expires,
        )
