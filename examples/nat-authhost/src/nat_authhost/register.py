"""Registers the `authhost` auth provider with NeMo Agent Toolkit (loaded
through the `nat.components` entry point)."""

from nat.builder.builder import Builder
from nat.cli.register_workflow import register_auth_provider

from .provider import AuthhostAuthProvider, AuthhostAuthProviderConfig


@register_auth_provider(config_type=AuthhostAuthProviderConfig)
async def authhost_auth_provider(config: AuthhostAuthProviderConfig, builder: Builder):
    yield AuthhostAuthProvider(config)
