"""Use cases behind the admin API, the UI and the CLI: keys, agents, channels, leads."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from core import operations, reachability
from core.errors import NotFoundError, RefusedError, ValidationFailed
from core.executor_secrets import ExecutorSecrets
from core.text import storable
from ports.driven import (
    AgentExecutor,
    AgentStore,
    ChannelCatalog,
    Clock,
    LeadStore,
    MessageStore,
    SecretVault,
    WorkQueue,
    WorkspaceStore,
)
from ports.driving import ResolvedChannel
from ports.errors import InvalidInput
from ports.errors import NotFound as NoSuchKind
from ports.values import (
    MAX_HUMAN_REPLY,
    SESSION_FILTERS,
    Actor,
    AgentRecord,
    ChannelRecord,
    ChannelTraits,
    LeadRecord,
    Page,
    Reach,
    ReplyRules,
    SessionSummary,
    StoredMessage,
    Template,
)

KEY_PREFIX = "gw_"
MAX_AGENT_NAME = 200
MAX_LABEL = 100
log = logging.getLogger(__name__)

# The refusals a person sees (409); the first is the contract's wording.
WINDOW_REFUSAL = "outside the 24-hour window: send a template"
OPTED_OUT_REFUSAL = "the contact opted out (STOP): nothing can be sent until they send START"
_NO_RULES = ChannelTraits("", "", 1500, False)

# A Twilio Content API template: its SID, and its placeholders' values by name.
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_TEMPLATE_VARIABLES = 100
MAX_VARIABLE_CHARS = 1024


def parsed_template(value: object) -> Template:
    """`{"content_sid": "HX" + 32 hex digits, "variables": {"1": "text", ...}}` as a Template;
    ValidationFailed naming `template` otherwise."""
    if not isinstance(value, dict):
        raise ValidationFailed({"template": 'must be {"content_sid": "HX...", "variables": {}}'})
    sid = value.get("content_sid")
    if not isinstance(sid, str) or not _CONTENT_SID.match(sid):
        raise ValidationFailed({"template": "content_sid must be HX followed by 32 hex digits"})
    variables = value.get("variables", {})
    if not isinstance(variables, dict) or len(variables) > MAX_TEMPLATE_VARIABLES:
        raise ValidationFailed(
            {"template": f"variables must be an object of at most {MAX_TEMPLATE_VARIABLES}"}
        )
    for name, text in variables.items():
        if not _VARIABLE_NAME.match(name):
            raise ValidationFailed({"template": "variable names are 1-64 letters, digits or _"})
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_VARIABLE_CHARS:
            raise ValidationFailed(
                {"template": f"variable values are text of 1 to {MAX_VARIABLE_CHARS} characters"}
            )
        if storable(text) != text:
            raise ValidationFailed({"template": "variable values must be plain text"})
    return Template(sid, dict(variables))


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
    # Asks for a session's pending work (a human's reply to deliver); None: nothing queues it.
    queue: WorkQueue | None = None
    # The channels' traits (reply windows, opt-out, templates); None: no channel has any.
    catalog: ChannelCatalog | None = None
    _secrets: ExecutorSecrets = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._secrets = ExecutorSecrets(self.executor, self.vault)

    async def authenticate(self, api_key: str) -> str | None:
        if not api_key.startswith(KEY_PREFIX):
            return None
        return await self.workspaces.workspace_for_key(hash_api_key(api_key))

    async def identify(self, api_key: str) -> Actor | None:
        if not api_key.startswith(KEY_PREFIX):
            return None
        return await self.workspaces.key_owner(hash_api_key(api_key))

    async def create_api_key(self, workspace_name: str, label: str | None = None) -> str:
        name = workspace_name.strip()
        if not name or len(name) > 100:
            raise ValidationFailed({"workspace": "must be 1 to 100 characters"})
        label = None if label is None else label.strip() or None
        if label is not None and (len(label) > MAX_LABEL or storable(label) != label):
            raise ValidationFailed(
                {"label": f"must be plain text of at most {MAX_LABEL} characters"}
            )
        workspace_id = await self.workspaces.ensure_workspace(name, self.clock.now())
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        await self.workspaces.add_api_key(
            workspace_id, hash_api_key(api_key), self.clock.now(), label
        )
        return api_key

    async def create_agent(
        self, workspace_id: str, name: str, executor: dict[str, Any]
    ) -> AgentRecord:
        errors = _name_errors(name)
        spec = self._runnable(executor, None, errors)
        if errors:
            raise ValidationFailed(errors)
        agent_id = str(uuid.uuid4())  # known before the row: the secrets are bound to it
        stored = self._secrets.seal(agent_id, spec)
        created = await self.agents.create_agent(
            workspace_id, name.strip(), stored, self.clock.now(), agent_id=agent_id
        )
        return self._shown(created)

    def _runnable(
        self, executor: object, current: dict[str, Any] | None, errors: dict[str, str]
    ) -> dict[str, Any]:
        """The runnable spec a client's executor asks for (secrets it left out or masked kept
        from `current`); its problems are added to `errors` as `executor.<field>`."""
        if not isinstance(executor, dict):
            errors.update({f"executor.{k}": v for k, v in self.executor.validate(executor).items()})
            return {}
        spec = self._secrets.without_storage_fields(executor)
        try:
            spec = self.executor.keep_secrets(spec, current)
        except InvalidInput as e:
            errors.update({f"executor.{k}": v for k, v in e.fields.items()})
        for name, why in self.executor.validate(spec).items():
            errors.setdefault(f"executor.{name}", why)
        return spec

    def _shown(self, agent: AgentRecord) -> AgentRecord:
        """The agent as it may leave the service: executor secrets masked."""
        return replace(agent, executor=self._secrets.shown(agent.executor))

    async def list_agents(
        self, workspace_id: str, limit: int | None = None, after_id: str | None = None
    ) -> list[AgentRecord]:
        agents = await self.agents.list_agents(workspace_id, limit, after_id)
        return [self._shown(a) for a in agents]

    async def _owned(self, workspace_id: str, agent_id: str) -> AgentRecord:
        agent = await self.agents.get_agent(agent_id)
        if agent is None or agent.workspace_id != workspace_id:
            raise NotFoundError("agent not found")
        return agent

    async def get_agent(self, workspace_id: str, agent_id: str) -> AgentRecord:
        return self._shown(await self._owned(workspace_id, agent_id))

    async def update_agent(
        self,
        workspace_id: str,
        agent_id: str,
        name: str | None,
        executor: dict[str, Any] | None,
    ) -> AgentRecord:
        agent = await self._owned(workspace_id, agent_id)
        errors = {} if name is None else _name_errors(name)
        stored = agent.executor
        if executor is not None:
            current = self._secrets.open(agent.id, agent.executor)
            spec = self._runnable(executor, current, errors)
            if not errors:
                stored = self._secrets.seal(agent.id, spec)
        elif self._secrets.needs_sealing(stored):  # stored before sealing: sealed now
            stored = self._secrets.seal(agent.id, self._secrets.open(agent.id, stored))
        if errors:
            raise ValidationFailed(errors)
        new_name = agent.name if name is None else name.strip()
        updated = await self.agents.update_agent(agent.id, new_name, stored, self.clock.now())
        if updated is None:
            raise NotFoundError("agent not found")
        return self._shown(updated)

    async def delete_agent(self, workspace_id: str, agent_id: str) -> None:
        agent = await self._owned(workspace_id, agent_id)
        if not await self.agents.delete_agent(agent.id):
            raise NotFoundError("agent not found")

    async def seal_plaintext_secrets(self) -> int:
        sealed = 0
        for agent in await self.agents.all_agents():
            if not self._secrets.needs_sealing(agent.executor):
                continue
            stored = self._secrets.seal(agent.id, self._secrets.open(agent.id, agent.executor))
            if await self.agents.replace_executor(agent, stored, self.clock.now()):
                sealed += 1
            # else: edited meanwhile, and an edit stores its secrets sealed
        if sealed:
            log.info("sealed the plain-text executor secrets of %d agent(s)", sealed)
        return sealed

    async def configure_channel(
        self,
        workspace_id: str,
        agent_id: str,
        kind: str,
        settings: dict[str, str],
        secrets: dict[str, str | None],
        enabled: bool,
    ) -> ResolvedChannel:
        await self._owned(workspace_id, agent_id)
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
        await self._owned(workspace_id, agent_id)
        record = await self.agents.get_channel(agent_id, kind)
        if record is None:
            raise NotFoundError(f"{kind} is not configured for this agent")
        return _without_secret_values(record)

    async def list_channels(self, workspace_id: str, agent_id: str) -> list[ResolvedChannel]:
        await self._owned(workspace_id, agent_id)
        return [_without_secret_values(r) for r in await self.agents.list_channels(agent_id)]

    async def delete_channel(self, workspace_id: str, agent_id: str, kind: str) -> None:
        await self._owned(workspace_id, agent_id)
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

    async def _own_session(self, workspace_id: str, session_id: str) -> None:
        agent_id = await self.messages.session_agent(session_id)
        if agent_id is None:
            raise NotFoundError("session not found")
        agent = await self.agents.get_agent(agent_id)
        if agent is None or agent.workspace_id != workspace_id:
            raise NotFoundError("session not found")

    async def session_messages(self, workspace_id: str, session_id: str) -> list[StoredMessage]:
        await self._own_session(workspace_id, session_id)
        return await self.messages.session_messages(session_id)

    async def session_summary(self, workspace_id: str, session_id: str) -> SessionSummary:
        await self._own_session(workspace_id, session_id)
        summary = await self.messages.session_summary(session_id)
        if summary is None:
            raise NotFoundError("session not found")
        return summary

    async def set_paused(self, actor: Actor, session_id: str, paused: bool) -> bool:
        """Human takeover: while paused, user messages are held and the agent is not called;
        resuming does not answer them. Recorded with who did it."""
        await self._own_session(actor.workspace_id, session_id)
        attention = operations.on_pause(paused)
        by = operations.actor_name(actor)
        if not await self.messages.set_paused(session_id, paused, by, self.clock.now(), attention):
            raise NotFoundError("session not found")
        log.info("session %s %s by %s", session_id, "paused" if paused else "resumed", by)
        return paused

    def _traits(self, kind: str) -> ChannelTraits:
        try:
            return self.catalog.traits(kind) if self.catalog is not None else _NO_RULES
        except NoSuchKind:  # a plugin removed since: its sender fails visibly
            return _NO_RULES

    def reply_rules(self, summary: SessionSummary) -> ReplyRules:
        traits = self._traits(summary.kind)
        closes = None
        if traits.reply_window_s is not None and summary.last_user_at is not None:
            closes = summary.last_user_at + timedelta(seconds=traits.reply_window_s)
        return ReplyRules(
            opted_out=summary.opted_out,
            window_open=reachability.window_open(traits, summary.last_user_at, self.clock.now()),
            templates=traits.templates,
            window_closes_at=closes,
        )

    async def human_reply(
        self, actor: Actor, session_id: str, content: object, template: object = None
    ) -> StoredMessage:
        """A person's reply, stored as role `human` and delivered by the worker through the
        session's own channel like an agent's reply (same retries, look-up before resend).
        Refused while the contact is opted out, and as text outside the reply window: the
        worker checks again as it sends (core.reachability)."""
        summary = await self.session_summary(actor.workspace_id, session_id)
        traits = self._traits(summary.kind)
        chosen: Template | None = None
        if template is not None:
            if content is not None:
                raise ValidationFailed({"template": "send either content or a template"})
            if not traits.templates:
                raise ValidationFailed({"template": f"{summary.kind} has no templates"})
            chosen = parsed_template(template)
            content = chosen.label
        elif not isinstance(content, str) or not content.strip():
            raise ValidationFailed({"content": "required: the text to send"})
        elif len(content) > MAX_HUMAN_REPLY or storable(content) != content:
            raise ValidationFailed(
                {"content": f"must be plain text of at most {MAX_HUMAN_REPLY} characters"}
            )
        assert isinstance(content, str)
        reach = Reach(summary.opted_out, summary.last_user_at)
        refused = reachability.refusal(
            traits, reach, self.clock.now(), content, template=chosen is not None
        )
        if refused == reachability.OPTED_OUT:
            raise RefusedError(OPTED_OUT_REFUSAL)
        if refused == reachability.OUTSIDE_WINDOW:
            raise RefusedError(WINDOW_REFUSAL)
        stored = await self.messages.add_human_message(
            session_id,
            content,
            operations.actor_name(actor),
            self.clock.now(),
            operations.on_human_reply(),
            template=chosen,
        )
        if self.queue is not None:
            await self.queue.enqueue(session_id)
        return stored

    async def list_sessions(
        self,
        workspace_id: str,
        agent_id: str | None,
        platform: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        if status is not None and status not in SESSION_FILTERS:
            raise ValidationFailed({"status": "must be one of: " + ", ".join(SESSION_FILTERS)})
        return await self.messages.list_sessions(
            workspace_id, agent_id, platform, status, limit, cursor
        )

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
        changed += await self.seal_plaintext_secrets()  # plain text left by an old version
        for agent in await self.agents.all_agents():
            stored, count = self._secrets.rotated(agent.id, agent.executor)
            if count and await self.agents.replace_executor(agent, stored, self.clock.now()):
                changed += count
            elif count:  # edited meanwhile: its fresh secrets were sealed with the newest key
                log.info("agent %s changed during rotation; left as edited", agent.id)
        return changed


def _without_secret_values(record: ChannelRecord) -> ResolvedChannel:
    """Secret names survive (to show that one is set); their values never leave the vault."""
    names = dict.fromkeys(record.secrets, "")
    return ResolvedChannel(
        record.agent_id, record.kind, dict(record.settings), names, record.enabled
    )


def _name_errors(name: object) -> dict[str, str]:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_AGENT_NAME:
        return {"name": f"must be a non-empty string of at most {MAX_AGENT_NAME} characters"}
    return {}
