"""Small fakes for the driven ports that record what happened (no mocks of call sequences)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.executors import secrets as executor_secrets
from adapters.executors.bridge import validate_executor
from adapters.persistence.memory.stores import (
    MemoryAgentStore,
    MemoryDatabase,
    MemoryLeadStore,
    MemoryMessageStore,
    MemoryWorkspaceStore,
)
from adapters.text.graphemes import RegexSegmenter
from adapters.vault.aesgcm import AesGcmVault, KeyRing
from core.administration import AdministrationService, ChannelDirectoryService
from core.conversation import Intake, Recovery, Responder
from core.truncation import TruncationPolicy
from ports.errors import ExecutorFailed, NotFound
from ports.values import (
    AgentRequest,
    ChannelTraits,
    InboundMessage,
    OutboundMessage,
    SendReceipt,
)

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
PHONE = "+14155550100"


class StaticCatalog:
    """A ChannelCatalog of fixed kinds; `render` marks what it rendered so tests can see it."""

    def __init__(self, *kinds: ChannelTraits, render: Callable[[str], str] | None = None) -> None:
        self.kinds = {k.kind: k for k in kinds} or {
            "whatsapp": ChannelTraits("whatsapp", "twilio", 1500, True),
            "web": ChannelTraits("web", "web", 4096, False),
            "telegram": ChannelTraits("telegram", "telegram", 4096, False),
        }
        self._render = render or (lambda text: text)
        self.typing: list[tuple[str, str, str | None]] = []

    def traits(self, kind: str) -> ChannelTraits:
        if kind not in self.kinds:
            raise NotFound(kind)
        return self.kinds[kind]

    def render(self, kind: str, text: str) -> str:
        return self._render(text)

    async def answering(
        self, kind: str, agent_id: str, contact: str, external_id: str | None
    ) -> None:
        self.typing.append((kind, contact, external_id))


class SteppingClock:
    """Every reading is one millisecond after the previous one, starting at T0."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start
        self.readings: list[datetime] = []

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        self.readings.append(self.current)
        return self.current


class RecordingQueue:
    """A WorkQueue that only records which sessions were asked for."""

    def __init__(self) -> None:
        self.enqueued: list[str] = []

    async def enqueue(self, session_id: str) -> None:
        self.enqueued.append(session_id)

    async def start(self, handler: Any) -> None:
        return None

    async def stop(self, deadline_s: float) -> None:
        return None


class FakeExecutor:
    """AgentExecutor: records every request; replies `reply(request)` or fails when told to."""

    def __init__(self, reply: Callable[[AgentRequest], str] | None = None) -> None:
        self.requests: list[AgentRequest] = []
        self.reply = reply or (lambda r: f"re: {r.message}")
        self.fail_on: set[str] = set()
        self.gate: asyncio.Event | None = None  # when set, every run waits for it

    async def run(self, executor: dict[str, Any], request: AgentRequest) -> str:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        if request.message in self.fail_on:
            raise ExecutorFailed("agent exploded")
        return self.reply(request)

    def validate(self, executor: object) -> dict[str, str]:
        return validate_executor(executor)

    # Which fields are secrets: the bridge's own rules (pure functions).
    def split_secrets(self, executor: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        return executor_secrets.split_secrets(executor)

    def join_secrets(self, public: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        return executor_secrets.join_secrets(public, secrets)

    def masked(self, public: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
        return executor_secrets.masked(public, names)

    def keep_secrets(
        self, new: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return executor_secrets.keep_secrets(new, current)


class FakeSender:
    """MessageSender: records what it was asked to send; `outcomes` are used up in order
    (a SendReceipt to return or an exception to raise); afterwards every send succeeds."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.outcomes: list[SendReceipt | Exception] = []

    async def send(self, message: OutboundMessage) -> SendReceipt:
        self.sent.append(message)
        if self.outcomes:
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return SendReceipt(external_id=f"SM{len(self.sent):032x}")


@dataclass
class World:
    """The core's use cases wired to in-memory stores and recording fakes."""

    db: MemoryDatabase = field(default_factory=MemoryDatabase)
    clock: SteppingClock = field(default_factory=SteppingClock)
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    executor: FakeExecutor = field(default_factory=FakeExecutor)
    sender: FakeSender = field(default_factory=FakeSender)
    vault: AesGcmVault = field(default_factory=lambda: AesGcmVault(KeyRing.generate("k1")))
    catalog: StaticCatalog = field(default_factory=StaticCatalog)

    def __post_init__(self) -> None:
        self.messages = MemoryMessageStore(self.db)
        self.agents = MemoryAgentStore(self.db)
        self.leads = MemoryLeadStore(self.db)
        self.workspaces = MemoryWorkspaceStore(self.db)
        self.intake = Intake(self.messages, self.queue, self.clock, self.catalog)
        self.recovery = Recovery(self.messages, self.queue)
        self.directory = ChannelDirectoryService(self.agents, self.vault)
        self.admin = self.admin_with(self.vault)

    def admin_with(self, vault: AesGcmVault) -> AdministrationService:
        return AdministrationService(
            self.workspaces, self.agents, self.leads, self.messages, vault, self.executor,
            self.clock,
        )  # fmt: skip

    def responder(self, **kwargs: Any) -> Responder:
        return Responder(
            self.messages,
            self.agents,
            self.executor,
            self.sender,
            TruncationPolicy(RegexSegmenter()),
            self.clock,
            self.catalog,
            **kwargs,
        )

    async def new_agent(self, workspace: str = "acme") -> str:
        workspace_id = await self.workspaces.ensure_workspace(workspace, T0)
        agent = await self.agents.create_agent(workspace_id, "bot", {"kind": "demo"}, T0)
        return agent.id

    def inbound(
        self, agent_id: str, sid: str, body: str = "hi", phone: str = PHONE, name: str = "Ana"
    ) -> InboundMessage:
        return InboundMessage(agent_id, "whatsapp", phone, sid, body, name)

    async def receive(self, agent_id: str, sid: str, body: str = "hi", phone: str = PHONE) -> str:
        """Accept a user message through Intake; returns its session id."""
        result = await self.intake.accept(self.inbound(agent_id, sid, body, phone))
        return result.session_id
