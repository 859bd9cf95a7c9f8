"""A NeMo Agent Toolkit auth provider (`_type: authhost`) that asks authhost
for the calling user's access token instead of holding OAuth clients and
tokens in the agent."""

from .provider import AuthhostAuthProvider, AuthhostAuthProviderConfig

__all__ = ["AuthhostAuthProvider", "AuthhostAuthProviderConfig"]
