"""The client against a real `authhost serve` (see conftest.py)."""

import asyncio

import pytest

from authhost_client import (
    AsyncClient,
    AuthhostError,
    AuthorizationRequired,
    Client,
)


def test_a_tool_asks_to_connect_then_answers_with_the_users_token(authhost, browser):
    with Client(authhost, user="alice") as client:
        with pytest.raises(AuthorizationRequired) as needed:
            client.invoke("me")
        assert needed.value.provider == "gh"
        assert needed.value.auth_url.startswith(f"{authhost}/v1/auth/flows/")
        opened = browser(needed.value.auth_url)
        status = client.wait_for_authorization(needed.value.auth_url, timeout=60)
        opened.join()
        assert status.status == "completed"
        assert status.finished
        result = client.invoke("me")
        assert result.status == 200
        assert result.body["user"] == "test-user"
        assert client.credential("gh").authorized


def test_preflight_and_credentials_say_what_is_missing(authhost):
    with Client(authhost, user="dave") as client:
        preflight = client.preflight(tools=["me", "item"])
        assert not preflight.ready
        assert [p.provider for p in preflight.to_connect] == ["gh"]
        assert preflight.to_connect[0].connect_url.startswith(authhost)
        statuses = {c.provider: c for c in client.credentials()}
        assert statuses["key"].authorized and not statuses["key"].per_user
        assert not statuses["gh"].authorized


def test_the_token_hand_out_follows_the_workflows_rules(authhost, browser):
    with Client(authhost, user="alice") as alice:
        try:
            alice.invoke("me")
        except AuthorizationRequired as needed:
            browser(needed.auth_url).join()
            alice.wait_for_authorization(needed.auth_url, timeout=60)
        token = alice.token("gh")
        assert token.provider == "gh" and token.token_type == "Bearer"
        assert token.access_token and token.access_token not in repr(token)
        assert token.scopes == ["repo"]
    with Client(authhost, user="erin") as erin:
        with pytest.raises(AuthhostError) as refused:
            erin.token("gh")
        assert refused.value.status == 403
        assert "general.server.handout.allow[0]" in refused.value.message


def test_the_proxy_is_an_httpx_client_with_the_users_credentials(authhost):
    with Client(authhost, user="alice") as client, client.proxy("key") as api:
        answer = api.post("items/7", params={"page": "2"}, json={"a": 1})
        assert answer.status_code == 200
        seen = answer.json()
        assert seen["path"] == "/api/items/7"
        assert seen["query"] == "page=2"
        assert seen["headers"]["x-api-key"] == "python-test-key"
        assert "x-user-id" not in seen["headers"]


def test_the_async_client_does_the_same(authhost):
    async def run():
        async with AsyncClient(authhost, user="frank") as client:
            result = await client.invoke("item", {"id": "42"})
            assert result.status == 200
            assert result.body["path"] == "/items/42"
            with pytest.raises(AuthorizationRequired):
                await client.invoke("me")
            async with client.proxy("key") as api:
                answer = await api.get("things")
                assert answer.json()["headers"]["x-api-key"] == "python-test-key"
            with pytest.raises(AuthhostError) as unknown:
                await client.invoke("nope")
            assert unknown.value.status == 404

    asyncio.run(run())


def test_a_connect_link_is_only_followed_on_this_authhost(authhost):
    with Client(authhost, user="alice") as client:
        with pytest.raises(ValueError):
            client.wait_for_authorization("https://evil.example.com/steal")
