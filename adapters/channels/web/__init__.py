"""Web chat: people write from a browser and read the replies from the gateway itself."""

from adapters.channels.web.plugin import WebChatChannel

__all__ = ["WebChatChannel"]
