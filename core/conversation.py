"""Use cases: accept an inbound message, and answer a session's pending messages in order."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from core import operations, reachability
from core.delivery import DeliveryReports
from core.errors import ValidationFailed
from core.lead_webhook import LeadEventDelivery
from core.session import SessionId
from core.text import MAX_ID_CHARS, MAX_NAME_CHARS, storable
from core.truncation import TruncationPolicy
from ports.driven import (
    AgentExecutor,
    AgentStore,
    ChannelCatalog,
    Clock,
    MessageSender,
    MessageStore,
    Metrics,
    WorkQueue,
)
from ports.errors import Conflict, ExecutorFailed, NotFound, SendFailed, SendOutcomeUnknown
from ports.values import (
    ANSWERED,
    FAILED,
    SENDING,
    SENT,
    UNKNOWN,
    USER,
    AcceptResult,
    AgentRecord,
    AgentRequest,
    AnswerStart,
    ChannelTraits,
    HistoryEntry,
    InboundMessage,
    LeadRecord,
    OutboundMessage,
    Reach,
    StoredMessage,
)

log = logging.getLogger(__name__)

APOLOGY = "Sorry, I couldn't answer that just now. Please try again in a moment."
POISON = "poison"  # the reason of a message whose answering stopped the process again and again


class NoMetrics:
    """Metrics that go nowhere (the default when nothing exports them)."""

    def answered(self, seconds: float, outcome: str) -> None:
        pass

    def sent(self, seconds: float, outcome: str) -> None:
        pass


def _traits(catalog: ChannelCatalog, kind: str) -> ChannelTraits:
    """A kind's traits; an unregistered kind (a plugin removed since) still gets an answer, and
    its sender then fails visibly."""
    try:
        return catalog.traits(kind)
    except NotFound:
        return ChannelTraits(kind, kind, 1500, False)


def normalised(message: InboundMessage) -> InboundMessage:
    """The message as every database stores it (see core.text); over-long ids are refused."""
    errors = {
        name: f"must be at most {MAX_ID_CHARS} characters"
        for name in ("external_id", "contact")
        if len(getattr(message, name)) > MAX_ID_CHARS
    }
    if errors:
        raise ValidationFailed(errors)
    name = None if message.sender_name is None else storable(message.sender_name)
    return InboundMessage(
        agent_id=message.agent_id,
        kind=message.kind,
        contact=storable(message.contact),
        external_id=storable(message.external_id),
        body=storable(message.body),
        sender_name=name[:MAX_NAME_CHARS] if name else None,
        attributes={storable(k): storable(v) for k, v in message.attributes.items()},
    )


@dataclass
class Intake:
    """Implements MessageIntake: store durably first, then ask for an answer."""

    store: MessageStore
    queue: WorkQueue
    clock: Clock
    catalog: ChannelCatalog
    # Schedules a new lead's webhook event (core.lead_webhook); None: no lead webhooks.
    lead_events: LeadEventDelivery | None = None

    def session_of(self, agent_id: str, kind: str, contact: str) -> str:
        prefix = _traits(self.catalog, kind).session_prefix
        return str(SessionId(prefix, agent_id, contact))

    async def accept(self, message: InboundMessage) -> AcceptResult:
        message = normalised(message)
        traits = _traits(self.catalog, message.kind)
        session = self.session_of(message.agent_id, message.kind, message.contact)
        # A stop or start word changes the lead's flag with the message itself, so no send
        # after this 200 can miss it; the gateway answers it even while the session is paused.
        control, opt_out = None, None
        if reachability.opt_out_change(traits, message.body) is not None:  # rare: one read
            lead = await self.store.lead_for_session(session)
            out = lead is not None and lead.opted_out
            control, opt_out = reachability.control_of(traits, message.body, out)
        held = control is None  # a paused session holds the message, unless it is one of these
        result = await self.store.accept_inbound(
            message,
            session,
            self.clock.now(),
            attention=operations.on_user_message(paused=False),
            attention_if_paused=operations.on_user_message(paused=held),
            opt_out=opt_out,
            control=control,
        )
        if not result.duplicate and not result.queued:
            await self.queue.enqueue(result.session_id)
        await self._announce_lead(message, result)
        return result

    async def _announce_lead(self, message: InboundMessage, result: AcceptResult) -> None:
        """A new lead's webhook event is scheduled after the commit (never fails the accept)."""
        if self.lead_events is not None and result.lead_event:  # no read for other messages
            await self.lead_events.announce(message)

    async def record_delivery(
        self, agent_id: str, kind: str, external_id: str, status: str, error: str | None
    ) -> bool:
        reports = DeliveryReports(self.store)
        return await reports.record(agent_id, kind, external_id, status, error, self.clock.now())

    async def conversation(self, agent_id: str, kind: str, contact: str) -> list[StoredMessage]:
        return await self.store.session_messages(self.session_of(agent_id, kind, contact))


@dataclass
class Responder:
    """Answers a session: each pending message in arrival order, one at a time.

    Safe to run again after a crash: a user message still pending is answered, a reply stored
    but not sent is sent, and a reply whose send was interrupted is looked up before resending.
    """

    store: MessageStore
    agents: AgentStore
    executor: AgentExecutor
    sender: MessageSender
    truncation: TruncationPolicy
    clock: Clock
    catalog: ChannelCatalog
    history_window: int = 50
    metrics: Metrics = field(default_factory=NoMetrics)
    # A message whose answer was begun this many times without completing (the process died
    # each time) is quarantined instead of being handed to the agent again.
    max_deaths: int = 3
    # How many of one agent's sessions are answered at once in this process, unless its
    # executor says `max_concurrency`; nothing else (pools, workers) bounds below it.
    default_max_concurrency: int = 500
    _slots: dict[str, tuple[int, asyncio.Semaphore]] = field(default_factory=dict, repr=False)

    # Typing indicators in flight at once. They are best effort, and a burst of them must not
    # take the event loop from the answers themselves: past this many, they wait their turn.
    typing_concurrency: int = 16
    _typing: deque[StoredMessage] = field(default_factory=deque, repr=False)
    _typists: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _typing_now: int = field(default=0, repr=False)
    _unanswered: set[int] = field(default_factory=set, repr=False)

    def _show_typing(self, message: StoredMessage) -> None:
        """Tell the channel an answer is coming, in the background: it never delays it. Past
        `typing_concurrency` indicators in flight, it waits for a turn, and is dropped if the
        agent has answered by then: its reply is on its way, and "typing" sent after the reply
        would outlive it."""
        if self._typing_now >= self.typing_concurrency:
            self._unanswered.add(message.id)
            self._typing.append(message)
            return
        self._typing_now += 1
        task = asyncio.create_task(self._type(message))
        self._typists.add(task)
        task.add_done_callback(self._typists.discard)

    async def _type(self, message: StoredMessage | None) -> None:
        try:
            while message is not None:
                try:
                    await self.catalog.answering(
                        message.kind, message.agent_id, message.contact, message.external_id
                    )
                except Exception as e:  # best effort: never the answer's concern
                    log.debug("typing indicator for message %s failed: %s", message.id, e)
                message = self._next_typing()
        finally:
            self._typing_now -= 1  # no await since the queue was last seen empty

    def _next_typing(self) -> StoredMessage | None:
        """The next waiting indicator whose agent has not answered yet (the others dropped)."""
        while self._typing:
            waiting = self._typing.popleft()
            if waiting.id in self._unanswered:
                self._unanswered.discard(waiting.id)
                return waiting
        return None

    def _slot(self, agent: AgentRecord) -> asyncio.Semaphore:
        wanted = agent.executor.get("max_concurrency", self.default_max_concurrency)
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
            wanted = self.default_max_concurrency
        held = self._slots.get(agent.id)
        if held is None or held[0] != wanted:  # new agent, or its limit was edited
            held = self._slots[agent.id] = (wanted, asyncio.Semaphore(wanted))
        return held[1]

    async def answer_session(self, session_id: str) -> None:
        # The first message's answer starts with the step that finds it (one round trip).
        first = await self.store.begin_next(session_id, self.clock.now(), self.history_window)
        message, start = (first.message, first.start) if first is not None else (None, None)
        while message is not None:  # each step gives the session's next pending message
            if message.role == USER:
                message = await self._answer(message, start)
            else:
                message = await self._deliver(message)
            start = None

    async def _answer(
        self, message: StoredMessage, start: AnswerStart | None = None
    ) -> StoredMessage | None:
        traits = _traits(self.catalog, message.kind)
        if message.control is not None:  # STOP or START: the gateway answers, not the agent
            return await self._confirm(message, traits, message.control)
        if start is None:
            start = await self.store.start_answer(
                message.id, message.session_id, self.clock.now(), self.history_window
            )
        lead = start.lead
        if lead is not None and lead.opted_out:  # nothing may reach this contact: no agent
            log.info("message %s not answered: its contact opted out", message.id)
            await self.store.close_unanswered(
                message.id, FAILED, reachability.OPTED_OUT, self.clock.now(),
                operations.on_refused(reachability.OPTED_OUT),
            )  # fmt: skip
            return await self.store.next_pending(message.session_id)
        if start.attempts > self.max_deaths:
            log.error(
                "message %s quarantined after %d interrupted answers",
                message.id,
                start.attempts - 1,
            )
            done = self.clock.now()
            stored = await self.store.complete(
                message.id, FAILED, APOLOGY, done, reason=POISON,
                attention=operations.on_answer(FAILED),
            )  # fmt: skip
            self.metrics.answered((done - message.created_at).total_seconds(), FAILED)
            return await self._deliver(stored.reply, stored.reach)
        self._show_typing(message)
        try:
            agent = await self.agents.get_agent(message.agent_id)
            reply, status = await self._ask_agent(message, agent, lead, start.history, traits)
        finally:
            self._unanswered.discard(message.id)
        if status == ANSWERED and agent is not None and agent.executor.get("format") != "plain":
            reply = self.catalog.render(message.kind, reply)  # Markdown for the medium, then cut
        text = self.truncation.apply(reply, traits.max_reply_chars)
        done = self.clock.now()
        stored = await self.store.complete(
            message.id, status, text, done, attention=operations.on_answer(status)
        )
        self.metrics.answered((done - message.created_at).total_seconds(), status)
        return await self._deliver(stored.reply, stored.reach)

    async def _confirm(
        self, message: StoredMessage, traits: ChannelTraits, control: str
    ) -> StoredMessage | None:
        """A stop or start word (its lead's flag was set with it): one confirmation, where the
        gateway gives it; where the provider does, or for a repeated stop word, the message
        is closed with no reply."""
        text = reachability.confirmation(traits, control)
        done = self.clock.now()
        if text is None:
            await self.store.close_unanswered(message.id, ANSWERED, None, done, attention=False)
            return await self.store.next_pending(message.session_id)
        stored = await self.store.complete(message.id, ANSWERED, text, done, attention=False)
        return await self._deliver(stored.reply, stored.reach)

    async def _ask_agent(
        self,
        message: StoredMessage,
        agent: AgentRecord | None,
        lead: LeadRecord | None,
        history: tuple[HistoryEntry, ...],
        traits: ChannelTraits,
    ) -> tuple[str, str]:
        if agent is None or lead is None:
            log.error("message %s has no agent or lead", message.id)
            return APOLOGY, FAILED
        request = AgentRequest(
            agent_id=message.agent_id,
            session_id=message.session_id,
            message=message.content,
            history=tuple(operations.for_agent(h) for h in history),
            lead_contact=lead.contact,
            lead_name=lead.name,
            platform=lead.platform,
            lead_phone=lead.contact if traits.contact_is_phone else None,
        )
        try:
            async with self._slot(agent):
                return await self.executor.run(agent.executor, request), ANSWERED
        except ExecutorFailed as e:
            log.warning("agent %s failed on message %s: %s", agent.id, message.id, e)
            return APOLOGY, FAILED

    async def _deliver(
        self, reply: StoredMessage, fresh: Reach | None = None
    ) -> StoredMessage | None:
        """Send a reply; returns the session's next pending message. `fresh`: the reply was
        just stored, its attempt started with it (MessageStore.complete), and this is what
        decides whether it may go; without it, the reply was found pending (a person's, or
        one whose send a crash interrupted) and its attempt starts here."""
        interrupted_at = None
        known: frozenset[str] = frozenset()
        started = self.clock.now()
        if fresh is not None:
            reach = fresh
        else:
            interrupted_at = reply.attempt_started_at if reply.status == SENDING else None
            if interrupted_at is not None:  # rare: only after a crash mid-send
                history = await self.store.session_messages(reply.session_id)
                known = frozenset(
                    m.external_id for m in history if m.external_id and m.id != reply.id
                )
            reach = await self.store.mark_sending(reply.id, started)
        refused = reachability.refusal(
            _traits(self.catalog, reply.kind), reach, started, reply.content,
            template=reply.template is not None,
        )  # fmt: skip
        if refused is not None:  # never leaves: the contact opted out, or the window closed
            log.info("reply %s not sent: %s", reply.id, refused)
            await self.store.mark_send_failed(
                reply.id, FAILED, refused, self.clock.now(), operations.on_refused(refused)
            )
            self.metrics.sent(0.0, FAILED)
            return await self.store.next_pending(reply.session_id)
        outbound = OutboundMessage(
            message_id=reply.id,
            agent_id=reply.agent_id,
            kind=reply.kind,
            contact=reply.contact,
            body=reply.content,
            previous_attempt_at=interrupted_at,
            known_ids=known,
            template=reply.template,
        )
        try:
            receipt = await self.sender.send(outbound)
        except SendFailed as e:
            log.warning("reply %s not sent: %s", reply.id, e)
            outcome = FAILED
            attention = operations.on_reply_status(FAILED)
            if e.opted_out:  # the provider's own opt-out: the lead keeps it too
                await self.store.set_opted_out(reply.id, True)
                attention = operations.on_refused(reachability.OPTED_OUT)
            await self.store.mark_send_failed(reply.id, FAILED, str(e), self.clock.now(), attention)
        except SendOutcomeUnknown as e:
            log.warning("reply %s outcome unknown: %s", reply.id, e)
            outcome = UNKNOWN
            await self.store.mark_send_failed(
                reply.id, UNKNOWN, str(e), self.clock.now(), operations.on_reply_status(UNKNOWN)
            )
        else:
            outcome = SENT
            try:
                after = await self.store.mark_sent(reply.id, receipt, self.clock.now())
            except Conflict:
                # A look-up after an interrupted send matched a message another reply already
                # owns: whether this one left is unknown. Say so rather than send it twice or
                # leave the session blocked behind it.
                outcome = UNKNOWN
                note = "interrupted send matched another reply's message"
                await self.store.mark_send_failed(
                    reply.id, UNKNOWN, note, self.clock.now(), operations.on_reply_status(UNKNOWN)
                )
            else:
                self.metrics.sent((self.clock.now() - started).total_seconds(), outcome)
                if after.parked:  # reports that came before the provider id was stored
                    await DeliveryReports(self.store).apply_taken(
                        reply.agent_id, reply.kind, receipt.external_id, after.parked,
                        self.clock.now(),
                    )  # fmt: skip
                return after.next_pending
        self.metrics.sent((self.clock.now() - started).total_seconds(), outcome)
        return await self.store.next_pending(reply.session_id)


@dataclass
class Recovery:
    """Finds sessions left with pending work (after a crash or an outage) and queues them."""

    store: MessageStore
    queue: WorkQueue
    clock: Clock | None = None
    parked_ttl: timedelta = timedelta(days=1)

    async def resume_pending(self, batch: int = 500, settled_s: float | None = None) -> int:
        """Queue sessions with pending work. With `settled_s` (the periodic sweep), only those
        whose oldest pending message is older than that: a newer one is still in the hands of
        the job that was queued with it, and queueing it again under load is wasted work."""
        before = None
        if self.clock is not None:  # reports parked for a day matched nothing of ours
            now = self.clock.now()
            await self.store.drop_parked(now - self.parked_ttl)
            if settled_s is not None:
                before = now - timedelta(seconds=settled_s)
        sessions = await self.store.sessions_with_pending_work(batch, before)
        for session_id in sessions:
            await self.queue.enqueue(session_id)
        return len(sessions)
