"""The NeMo Agent Toolkit adapter (examples/nat-authhost) against the real
server: a NAT auth provider that asks authhost for the user's token. Runs
when NAT is installed."""

import asyncio

import pytest

nat = pytest.importorskip("nat")

from authhost_client import AuthorizationRequired, Client  # noqa: E402
from nat.cli.type_registry import GlobalTypeRegistry  # noqa: E402
from nat.data_models.authentication import BearerTokenCred  # noqa: E402
from nat_authhost import AuthhostAuthProvider, AuthhostAuthProviderConfig  # noqa: E402
import nat_authhost.register  # noqa: E402,F401  (registers `_type: authhost`)


def test_nat_gets_the_users_token_from_authhost(authhost, browser):
    registered = GlobalTypeRegistry.get().get_auth_provider(AuthhostAuthProviderConfig)
    assert registered.config_type is AuthhostAuthProviderConfig
    config = AuthhostAuthProviderConfig(base_url=authhost, provider="gh", trust_user_header=True)
    provider = AuthhostAuthProvider(config)

    # alice may take tokens (general.server.handout); she connects first.
    with pytest.raises(AuthorizationRequired) as needed:
        asyncio.run(provider.authenticate(user_id="alice-nat"))
    assert needed.value.provider == "gh"
    with Client(authhost, user="alice-nat") as client:
        browser(needed.value.auth_url).join()
        assert client.wait_for_authorization(needed.value.auth_url, timeout=60).status == "completed"
    result = asyncio.run(provider.authenticate(user_id="alice-nat"))
    (credential,) = result.credentials
    assert isinstance(credential, BearerTokenCred)
    assert credential.scheme == "Bearer"
    assert credential.token.get_secret_value()
    assert not result.is_expired()
    assert result.as_requests_kwargs()["headers"]["Authorization"].startswith("Bearer ")
