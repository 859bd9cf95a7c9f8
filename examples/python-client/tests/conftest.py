"""A real `authhost serve` for the tests, on a workflow with a per-user OAuth
provider (the project's test authorization server), a static key, a tool for
each, hand-out allowed for alice (and alice-nat, the NAT adapter's user),
and proxy base URLs.

The Rust test `python_client` runs these with the servers it started:
AUTHHOST_BIN (the binary), AUTHHOST_TEST_AUTH_BASE (authorization server),
AUTHHOST_TEST_API_BASE (an echo API)."""

import os
import socket
import subprocess
import threading

import httpx
import pytest


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (run through `cargo test --test e2e python_client`)")
    return value


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORKFLOW = """
general:
  server:
    connect:
      verify: none
    handout:
      allow:
        - users: [alice, alice-nat]
  store:
    url: sqlite://{dir}/tokens.db
    key_file: {dir}/store.key
  inbound_auth:
    type: none
    trust_user_header: X-User-Id
authentication:
  gh:
    _type: oauth2_auth_code_flow
    _handout: true
    _base_url: {auth}
    client_id: authhost-test
    client_secret: test-secret
    issuer: {auth}
    redirect_uri: http://127.0.0.1:{port}/auth/callback
    scopes: [repo]
  key:
    _type: api_key
    _base_url: {api}/api
    api_key: python-test-key
tools:
  me:
    _type: http
    url: {auth}/api/me
    auth_provider: gh
  item:
    _type: http
    url: {api}/items/{{id}}
    auth_provider: key
"""


@pytest.fixture(scope="session")
def authhost(tmp_path_factory):
    """The base URL of a running `authhost serve`."""
    binary, auth, api = (
        _env("AUTHHOST_BIN"),
        _env("AUTHHOST_TEST_AUTH_BASE"),
        _env("AUTHHOST_TEST_API_BASE"),
    )
    folder = tmp_path_factory.mktemp("authhost")
    port = _free_port()
    config = folder / "workflow.yaml"
    config.write_text(WORKFLOW.format(dir=folder, auth=auth, api=api, port=port))
    server = subprocess.Popen(
        [binary, "serve", "--config", str(config), "--bind", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    line = ""
    while "listening on " not in line:
        line = server.stderr.readline()
        if not line:
            raise RuntimeError("authhost serve exited before listening")
    threading.Thread(target=server.stderr.read, daemon=True).start()
    yield line.strip().rsplit("listening on ", 1)[1]
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def browser():
    """Opens a connect link as the user's browser would: through the
    authorization server (which approves at once) back to authhost."""

    def open_link(url):
        def follow():
            httpx.get(url, follow_redirects=True, timeout=30)

        thread = threading.Thread(target=follow)
        thread.start()
        return thread

    return open_link
