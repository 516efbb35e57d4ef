"""Use cases behind the admin API, the UI and the CLI: keys, agents, channels, leads."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core.errors import NotFoundError, ValidationFailed
from ports.driven import (
    AgentExecutor,
    AgentStore,
    Clock,
    LeadStore,
    MessageStore,
    SecretVault,
    WorkspaceStore,
)
from ports.driving import ResolvedChannel
from ports.values import AgentRecord, ChannelRecord, LeadRecord, Page, StoredMessage

KEY_PREFIX = "gw_"


def hash_api_key(api_key: str) -> str:
    """Keys are random 256-bit strings, so one round of SHA-256 is enough to store them."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def secret_context(agent_id: str, kind: str, name: str) -> str:
    """What a channel secret is bound to: a ciphertext only opens for this owner and field."""
    return f"agent:{agent_id}:channel:{kind}:{name}"


@dataclass
class ChannelDirectoryService:
    """Implements ChannelDirectory: a channel's settings with its secrets opened."""

    agents: AgentStore
    vault: SecretVault

    async def resolve(self, agent_id: str, kind: str) -> ResolvedChannel | None:
        agent = await self.agents.get_agent(agent_id)
        if agent is None:
            raise NotFoundError("agent not found")
        record = await self.agents.get_channel(agent_id, kind)
        if record is None:
            return None
        opened = {
            name: self.vault.decrypt(value, secret_context(agent_id, kind, name))
            for name, value in record.secrets.items()
        }
        return ResolvedChannel(agent_id, kind, dict(record.settings), opened, record.enabled)


@dataclass
class AdministrationService:
    """Implements Administration; every read is scoped to the caller's workspace."""

    workspaces: WorkspaceStore
    agents: AgentStore
    leads: LeadStore
    messages: MessageStore
    vault: SecretVault
    executor: AgentExecutor
    clock: Clock

    async def authenticate(self, api_key: str) -> str | None:
        if not api_key.startswith(KEY_PREFIX):
            return None
        return await self.workspaces.workspace_for_key(hash_api_key(api_key))

    async def create_api_key(self, workspace_name: str) -> str:
        name = workspace_name.strip()
        if not name or len(name) > 100:
            raise ValidationFailed({"workspace": "must be 1 to 100 characters"})
        workspace_id = await self.workspaces.ensure_workspace(name, self.clock.now())
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        await self.workspaces.add_api_key(workspace_id, hash_api_key(api_key), self.clock.now())
        return api_key

    async def create_agent(
        self, workspace_id: str, name: str, executor: dict[str, Any]
    ) -> AgentRecord:
        errors: dict[str, str] = {}
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            errors["name"] = "must be a non-empty string of at most 200 characters"
        errors.update({f"executor.{k}": v for k, v in self.executor.validate(executor).items()})
        if errors:
            raise ValidationFailed(errors)
        return await self.agents.create_agent(
            workspace_id, name.strip(), executor, self.clock.now()
        )

    async def list_agents(self, workspace_id: str) -> list[AgentRecord]:
        return await self.agents.list_agents(workspace_id)

    async def get_agent(self, workspace_id: str, agent_id: str) -> AgentRecord:
        agent = await self.agents.get_agent(agent_id)
        if agent is None or agent.workspace_id != workspace_id:
            raise NotFoundError("agent not found")
        return agent

    async def configure_channel(
        self,
        workspace_id: str,
        agent_id: str,
        kind: str,
        settings: dict[str, str],
        secrets: dict[str, str | None],
        enabled: bool,
    ) -> ResolvedChannel:
        await self.get_agent(workspace_id, agent_id)
        stored = await self.agents.get_channel(agent_id, kind)
        sealed: dict[str, str] = {}
        for name, value in secrets.items():
            if value is not None:
                sealed[name] = self.vault.encrypt(value, secret_context(agent_id, kind, name))
            elif stored is not None and name in stored.secrets:
                sealed[name] = stored.secrets[name]
            else:
                raise ValidationFailed({name: "required: none is stored yet"})
        record = ChannelRecord(agent_id, kind, dict(settings), sealed, enabled, self.clock.now())
        saved = await self.agents.save_channel(record)
        return _without_secret_values(saved)

    async def get_channel(self, workspace_id: str, agent_id: str, kind: str) -> ResolvedChannel:
        await self.get_agent(workspace_id, agent_id)
        record = await self.agents.get_channel(agent_id, kind)
        if record is None:
            raise NotFoundError(f"{kind} is not configured for this agent")
        return _without_secret_values(record)

    async def list_channels(self, workspace_id: str, agent_id: str) -> list[ResolvedChannel]:
        await self.get_agent(workspace_id, agent_id)
        return [_without_secret_values(r) for r in await self.agents.list_channels(agent_id)]

    async def delete_channel(self, workspace_id: str, agent_id: str, kind: str) -> None:
        await self.get_agent(workspace_id, agent_id)
        if not await self.agents.delete_channel(agent_id, kind):
            raise NotFoundError(f"{kind} is not configured for this agent")

    async def list_leads(
        self,
        workspace_id: str,
        agent_id: str | None,
        platform: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        return await self.leads.list_leads(workspace_id, agent_id, platform, search, limit, cursor)

    def export_leads(
        self, workspace_id: str, agent_id: str | None, platform: str | None, search: str | None
    ) -> AsyncIterator[LeadRecord]:
        return self.leads.iterate_leads(workspace_id, agent_id, platform, search)

    async def session_messages(self, workspace_id: str, session_id: str) -> list[StoredMessage]:
        agent_id = await self.messages.session_agent(session_id)
        if agent_id is None:
            raise NotFoundError("session not found")
        agent = await self.agents.get_agent(agent_id)
        if agent is None or agent.workspace_id != workspace_id:
            raise NotFoundError("session not found")
        return await self.messages.session_messages(session_id)

    async def rotate_secrets(self) -> int:
        changed = 0
        for record in await self.agents.all_channels():
            fresh = dict(record.secrets)
            for name, sealed in record.secrets.items():
                if not self.vault.is_current(sealed):
                    context = secret_context(record.agent_id, record.kind, name)
                    fresh[name] = self.vault.encrypt(self.vault.decrypt(sealed, context), context)
                    changed += 1
            if fresh != record.secrets:
                await self.agents.save_channel(
                    ChannelRecord(
                        record.agent_id,
                        record.kind,
                        record.settings,
                        fresh,
                        record.enabled,
                        record.updated_at,
                    )
                )
        return changed


def _without_secret_values(record: ChannelRecord) -> ResolvedChannel:
    """Secret names survive (to show that one is set); their values never leave the vault."""
    names = dict.fromkeys(record.secrets, "")
    return ResolvedChannel(
        record.agent_id, record.kind, dict(record.settings), names, record.enabled
    )
