"""The channel plugin interface: everything one channel kind brings, in one typed class.

A plugin is the pair Rasa splits into InputChannel and OutputChannel, plus what the admin API
and the UI need to configure it: its settings schema and validation, its inbound routes (built
from the driving ports only), its sender (the driven MessageSender port), how it renders an
agent's Markdown, and optional hooks run when it is saved or deleted. It is async, and testable
without the network: every outside call goes through the injected httpx client.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from quart import Blueprint

from adapters.inbound.http.public_url import PublicUrl
from ports.driven import MessageSender
from ports.driving import ChannelDirectory, MessageIntake, ResolvedChannel
from ports.errors import InvalidInput
from ports.values import ChannelTraits

MAX_FIELD_CHARS = 512
# What a form or API client sends back for a secret it was shown masked: keep the stored one.
MASKED = "***"


@dataclass(frozen=True, slots=True)
class ChannelField:
    """One setting of a channel kind; a `secret` is encrypted at rest and never shown again."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    hint: str = ""
    placeholder: str = ""
    input_type: str = "text"  # the UI's <input type>; secrets are always password inputs

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "secret": self.secret,
            "required": self.required,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class ChannelDraft:
    """Settings about to be saved; a secret given as None keeps the stored one."""

    settings: dict[str, str]
    secrets: dict[str, str | None]
    enabled: bool


@dataclass(frozen=True)
class PluginDeps:
    """What the composition root hands every plugin when it is built."""

    http: httpx.AsyncClient
    channels: ChannelDirectory  # the worker's directory: senders resolve credentials here
    env: Mapping[str, str] = field(default_factory=dict)  # a plugin reads its own settings
    send_max_attempts: int = 5
    send_base_delay_s: float = 0.5
    public_base_url: str | None = None
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep


@dataclass(frozen=True)
class InboundDeps:
    """What a plugin's inbound routes may call: driving ports and public URL building."""

    intake: MessageIntake
    channels: ChannelDirectory
    public_url: PublicUrl


@dataclass(frozen=True)
class SandboxRequest:
    """A webhook request a plugin built for the sandbox: POST `url` with these headers and
    either `form` or `json`; `external_id` is how the stored message will be known."""

    url: str
    external_id: str
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None


class ChannelPlugin(ABC):
    """One channel kind. Subclasses set the class attributes and implement `sender`."""

    traits: ChannelTraits
    label: str
    description: str = ""
    contact_label: str = "Contact"
    fields: tuple[ChannelField, ...] = ()
    webhook_route: str | None = None  # inbound webhook at /webhooks/{route}/{agent_id}

    def __init__(self, deps: PluginDeps) -> None:
        """Every plugin is built from the same deps (config/channels.py)."""
        self.deps = deps

    @classmethod
    def settings_problem(cls, env: Mapping[str, str]) -> str | None:
        """What is wrong with this plugin's own environment variables, in one line naming
        the variable (checked at start with the other settings), or None."""
        return None

    @property
    def kind(self) -> str:
        return self.traits.kind

    @property
    def not_enabled(self) -> str:
        """The 403 body when an agent has this kind not configured or disabled."""
        return f"{self.label} not enabled"

    def webhook_path(self, agent_id: str) -> str | None:
        return f"/webhooks/{self.webhook_route}/{agent_id}" if self.webhook_route else None

    def validate(self, body: Mapping[str, Any], current: ResolvedChannel | None) -> ChannelDraft:
        """The draft a PUT body describes; raises InvalidInput naming every bad field.

        A secret left out, empty or sent back as `***` keeps the stored one; so does any other
        field left out (`{"enabled": false}` disables a channel and keeps its settings)."""
        errors: dict[str, str] = {}
        settings: dict[str, str] = {}
        secrets: dict[str, str | None] = {}
        for f in self.fields:
            value = body.get(f.name)
            if f.secret and (value is None or value in ("", MASKED)):
                if current is not None and f.name in current.secrets:
                    secrets[f.name] = None
                elif f.required:
                    errors[f.name] = "required: none is stored yet"
                continue
            if value is None and current is not None and f.name in current.settings:
                settings[f.name] = current.settings[f.name]  # left out: the stored one stays
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                if f.required:
                    errors[f.name] = "required"
                continue
            if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
                errors[f.name] = f"must be a string of at most {MAX_FIELD_CHARS} characters"
                continue
            try:
                checked = self.check(f.name, value.strip())
            except ValueError as e:
                errors[f.name] = str(e)
                continue
            (secrets if f.secret else settings)[f.name] = checked
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            errors["enabled"] = "must be true or false"
        if errors:
            raise InvalidInput(errors)
        return ChannelDraft(settings, secrets, bool(enabled))

    def check(self, name: str, value: str) -> str:
        """One field's own rule: the value to store, or ValueError saying why not."""
        return value

    async def before_save(
        self,
        agent_id: str,
        draft: ChannelDraft,
        current: ResolvedChannel | None,
        webhook_url: str | None,
    ) -> ChannelDraft:
        """Runs before a save (e.g. register a webhook with the provider); may add secrets.
        Raises InvalidInput when the provider refuses a field."""
        return draft

    async def before_delete(self, current: ResolvedChannel) -> None:
        """Runs before the channel is removed (e.g. unregister its webhook); best effort."""
        return None

    def inbound(self, deps: InboundDeps) -> Blueprint | None:
        """The kind's inbound routes, or None when people reach it some other way."""
        return None

    def sandbox(self) -> Blueprint | None:
        """A local double of the kind's provider, mounted under /sandbox/ in dev and test."""
        return None

    def sandbox_request(
        self, channel: ResolvedChannel, base_url: str, contact: str, name: str, text: str
    ) -> SandboxRequest | None:
        """An inbound request exactly as the provider would send it (signed), for
        `python -m app sandbox say`; None when the kind has no inbound webhook."""
        return None

    async def answering(self, agent_id: str, contact: str, external_id: str | None) -> None:
        """Show the person an answer is coming (typing indicator); best effort, may raise."""
        return None

    @abstractmethod
    def sender(self) -> MessageSender:
        """Delivers this kind's replies (the same object on every call)."""

    def render(self, text: str) -> str:
        """The agent's Markdown as this medium shows it."""
        return text

    def describe(self, channel: ResolvedChannel, base_url: str) -> dict[str, Any]:
        """The API's view of a configured channel: no secret value, ever."""
        shown: dict[str, Any] = {"kind": self.kind, "enabled": channel.enabled}
        path = self.webhook_path(channel.agent_id)
        if path is not None:
            shown["webhook_url"] = base_url + path
        for f in self.fields:
            if f.secret:
                shown[f"{f.name}_set"] = f.name in channel.secrets
            else:
                shown[f.name] = channel.settings.get(f.name)
        return shown

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "max_reply_chars": self.traits.max_reply_chars,
            "fields": [f.as_json() for f in self.fields],
        }
