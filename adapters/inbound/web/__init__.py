"""The Web UI: server-rendered pages for agents, deploying to channels, leads and chats."""

from adapters.inbound.web.blueprint import ui_blueprint

__all__ = ["ui_blueprint"]
