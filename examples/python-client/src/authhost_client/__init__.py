"""authhost's Python client: tool calls, the pass-through proxy and the
token hand-out with each end user's credentials; connect links when a user
must authorize first.

    from authhost_client import Client, AuthorizationRequired

    with Client("http://127.0.0.1:8080", token=jwt) as authhost:
        try:
            result = authhost.invoke("list_repos", {"per_page": 5})
        except AuthorizationRequired as needed:
            print("connect at", needed.auth_url)
            authhost.wait_for_authorization(needed.auth_url)
            result = authhost.invoke("list_repos", {"per_page": 5})
"""

from .async_client import AsyncClient
from .client import Client
from .errors import AuthhostError, AuthorizationRequired, CredentialsRequired
from .models import CredentialStatus, FlowStatus, InvokeResult, Preflight, Token

__all__ = [
    "AsyncClient",
    "AuthhostError",
    "AuthorizationRequired",
    "Client",
    "CredentialStatus",
    "CredentialsRequired",
    "FlowStatus",
    "InvokeResult",
    "Preflight",
    "Token",
]
__version__ = "0.1.0"
