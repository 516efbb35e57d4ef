"""The channel kinds this gateway serves: one registration line each, in the UI's tab order.

A plugin is named by `module:class`, so registering a kind is one line here and nothing else
in this file (or anywhere outside the plugin's folder) changes."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from adapters.channels.base import ChannelPlugin, PluginDeps
from adapters.channels.registry import ChannelRegistry

REGISTERED = (
    "adapters.channels.whatsapp:WhatsAppChannel",
    "adapters.channels.sms:SmsChannel",
    "adapters.channels.telegram:TelegramChannel",
    "adapters.channels.web:WebChatChannel",
)


def plugin_class(path: str) -> type[ChannelPlugin]:
    module, _, name = path.partition(":")
    found = getattr(importlib.import_module(module), name)
    if not (isinstance(found, type) and issubclass(found, ChannelPlugin)):
        raise TypeError(f"{path} is not a ChannelPlugin")
    return found


PLUGINS: tuple[type[ChannelPlugin], ...] = tuple(plugin_class(p) for p in REGISTERED)


def settings_problem(env: Mapping[str, str]) -> str | None:
    """The first plugin's complaint about its own environment variables, or None."""
    return next((p for plugin in PLUGINS if (p := plugin.settings_problem(env))), None)


def build_registry(deps: PluginDeps) -> ChannelRegistry:
    return ChannelRegistry(plugin(deps) for plugin in PLUGINS)
