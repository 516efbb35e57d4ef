"""Telegram: a bot on the Bot API, with the gateway as its webhook."""

from adapters.channels.telegram.plugin import TelegramChannel

__all__ = ["TelegramChannel"]
