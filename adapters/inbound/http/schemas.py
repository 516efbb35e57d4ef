"""Pydantic models of the admin API, for its OpenAPI document (`/openapi.json`).

They document: the views keep their own parsing and checks (`admin_api.json_object`, the
plugins' and the core's validation), whose statuses and `{"error", "fields"}` bodies the
contract pins. Secrets never appear in a response model: an executor shows `api_key_set` and
header values `***`, a channel shows `<secret>_set` for each stored secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

# The model names are the component names in /openapi.json.
MASKED = "***"
Text = Annotated[str, Field(description="Unicode text: no NUL, no lone surrogates")]


class Error(BaseModel):
    """An error: what went wrong and, for invalid fields (422), why each one is invalid."""

    error: str
    fields: dict[str, str] | None = Field(
        default=None, description="field name -> why it is invalid (422 only)"
    )


# -- executors --------------------------------------------------------------------------------

_COMMON_DOC = (
    "Every kind also takes `timeout_s` (seconds, > 0), `format` (`markdown` or `plain`) and "
    "`max_concurrency` (1 to 10000)."
)


class _ExecutorBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    timeout_s: float | None = Field(default=None, gt=0)
    format: Literal["markdown", "plain"] | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=10000)


class DemoExecutor(_ExecutorBase):
    """The built-in demo agent."""

    kind: Literal["demo"]


class PythonExecutor(_ExecutorBase):
    """An in-process graph or async callable, `module:attribute` (in prod only the module
    prefixes of PYTHON_EXECUTOR_ALLOW)."""

    kind: Literal["python"]
    target: str = Field(examples=["my_agent.graph:graph"])
    memory: Literal["gateway", "graph"] | None = None


class HttpExecutorIn(_ExecutorBase):
    """POSTs the message as JSON to `url`; header values are secrets (`***` keeps one)."""

    kind: Literal["http"]
    url: str
    headers: dict[str, str] | None = None


class HttpExecutorOut(_ExecutorBase):
    """An `http` executor as shown: each header's value is `***`."""

    kind: Literal["http"]
    url: str
    headers: dict[str, Literal["***"]] | None = None


class OpenAIExecutorIn(_ExecutorBase):
    """Any OpenAI-compatible chat completions server; `api_key` left out (or `***`) keeps the
    stored one."""

    kind: Literal["openai"]
    base_url: str | None = Field(default=None, examples=["https://api.openai.com/v1"])
    model: str
    api_key: str | None = None
    system_prompt: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)


class OpenAIExecutorOut(_ExecutorBase):
    """An `openai` executor as shown: `api_key_set` instead of the key."""

    kind: Literal["openai"]
    base_url: str | None = None
    model: str
    api_key_set: bool
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class LangGraphServerExecutorIn(_ExecutorBase):
    """A LangGraph server (Agent Server API); `api_key` is sent as `X-Api-Key`."""

    kind: Literal["langgraph_server"]
    url: str
    assistant_id: str
    api_key: str | None = None


class LangGraphServerExecutorOut(_ExecutorBase):
    """A `langgraph_server` executor as shown: `api_key_set` instead of the key."""

    kind: Literal["langgraph_server"]
    url: str
    assistant_id: str
    api_key_set: bool


ExecutorIn = Annotated[
    DemoExecutor | PythonExecutor | HttpExecutorIn | OpenAIExecutorIn | LangGraphServerExecutorIn,
    Field(discriminator="kind", description="How the agent's replies are produced. " + _COMMON_DOC),
]
ExecutorOut = Annotated[
    DemoExecutor
    | PythonExecutor
    | HttpExecutorOut
    | OpenAIExecutorOut
    | LangGraphServerExecutorOut,
    Field(discriminator="kind", description="The executor, its secrets masked."),
]


# -- agents -----------------------------------------------------------------------------------


class AgentCreate(BaseModel):
    """A new agent."""

    name: Text = Field(max_length=200)
    executor: ExecutorIn


class AgentPatch(BaseModel):
    """The fields to change; a secret of the executor left out is kept."""

    name: Text | None = Field(default=None, max_length=200)
    executor: ExecutorIn | None = None


class Agent(BaseModel):
    """An agent."""

    id: str = Field(description="a random UUID")
    name: str
    executor: ExecutorOut
    created_at: datetime


class AgentList(BaseModel):
    """A page of agents, oldest first."""

    items: list[Agent]
    next_cursor: str | None


class AgentListQuery(BaseModel):
    limit: int | None = Field(default=None, ge=1, description="default 50; above 500 is 500")
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page")


# -- channels ---------------------------------------------------------------------------------


class ChannelField(BaseModel):
    name: str
    label: str
    secret: bool
    required: bool
    hint: str | None = None


class ChannelKind(BaseModel):
    """A registered channel kind and the fields its settings take."""

    kind: str
    label: str
    max_reply_chars: int
    fields: list[ChannelField]


class ChannelKindList(BaseModel):
    items: list[ChannelKind]


class ChannelSettings(BaseModel):
    """The kind's fields (see `GET /api/channels`) and `enabled`; a secret left out is kept."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str | bool | None] = Field(init=False)

    enabled: bool | None = None


class Channel(BaseModel):
    """A configured channel: each non-secret field, and `<secret>_set: true|false` for each
    secret field. No secret value, ever."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str | bool | None] = Field(init=False)

    kind: str
    enabled: bool
    webhook_url: str | None = Field(default=None, description="kinds with an inbound webhook")


class ChannelList(BaseModel):
    items: list[Channel]


# -- leads, sessions, messages ----------------------------------------------------------------


class LeadQuery(BaseModel):
    agent_id: str | None = None
    platform: str | None = Field(default=None, max_length=32)
    q: str | None = Field(default=None, max_length=200, description="search in name and contact")
    limit: int | None = Field(default=None, ge=1, description="default 50; above 500 is 500")
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page")


class LeadCsvQuery(BaseModel):
    agent_id: str | None = None
    platform: str | None = Field(default=None, max_length=32)
    q: str | None = Field(default=None, max_length=200)


class Lead(BaseModel):
    """One person at one agent on one platform."""

    model_config = ConfigDict(extra="allow")

    id: str
    agent_id: str
    platform: str
    contact: str
    phone: str | None = Field(description="E.164 on phone-based platforms, else null")
    name: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    message_count: int
    opted_out: bool = Field(
        description="sent a stop word (STOP, ...) and gets nothing until START; on SMS also "
        "set when Twilio refuses a send with 21610"
    )


class LeadList(BaseModel):
    items: list[Lead]
    next_cursor: str | None


class LeadsCsv(RootModel[str]):
    """The leads as CSV (`text/csv`) with a header row."""


class SessionQuery(BaseModel):
    agent_id: str | None = None
    platform: str | None = Field(default=None, max_length=32)
    status: Literal["needs_attention", "paused"] | None = None
    limit: int | None = Field(default=None, ge=1, description="default 50; above 500 is 500")
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page")


class SessionSummary(BaseModel):
    """An inbox entry."""

    session_id: str
    agent_id: str
    platform: str
    contact: str
    name: str | None
    last_message_at: datetime
    last_message: str
    paused: bool
    needs_attention: bool


class SessionList(BaseModel):
    items: list[SessionSummary]
    next_cursor: str | None


class Message(BaseModel):
    """A message of a session; `author` on a human's reply."""

    role: Literal["user", "assistant", "human"]
    content: str
    created_at: datetime
    status: str = Field(
        description="user: received, processing, answered, failed, held; assistant and human: "
        "queued, sending, sent, delivered, read, undelivered, failed, unknown"
    )
    error: str | None = Field(description="why it failed or went undelivered, else null")
    author: str | None = None


class MessageList(BaseModel):
    """The session's messages, oldest first."""

    items: list[Message]


class PauseRequest(BaseModel):
    paused: bool


class PauseState(BaseModel):
    paused: bool


class TemplateMessage(BaseModel):
    """A provider's pre-approved template: its Content SID and placeholder values."""

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: dict[str, str] = Field(default_factory=dict, max_length=100)


class HumanReply(BaseModel):
    """A reply written by a person, sent like an agent's reply: `content` (free-form text,
    only within the channel's reply window) or `template` (at any time, on channels that have
    templates), not both."""

    model_config = ConfigDict(extra="allow")

    content: str | None = Field(default=None, min_length=1, max_length=4096)
    template: TemplateMessage | None = None


class ReplyAccepted(BaseModel):
    """The stored reply, queued for sending."""

    id: int
    status: str


# -- the new-lead webhook ---------------------------------------------------------------------


class LeadWebhookSettings(BaseModel):
    """Where new leads are POSTed, and the HMAC-SHA256 secret that signs them (sealed in the
    vault, never returned)."""

    model_config = ConfigDict(extra="allow")

    url: str = Field(min_length=1, max_length=2000, examples=["https://crm.example.com/hook"])
    secret: str = Field(min_length=16, max_length=500, description="16 to 500 printable chars")


class LeadDeliveryEntry(BaseModel):
    """One lead event's delivery: its id (`X-Gateway-Delivery`), status and last attempt."""

    id: str
    lead_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = Field(description="the receiver's last HTTP status")
    last_error: str | None = Field(description="the last failed attempt in words, else null")
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="when a pending delivery is retried")


class LeadWebhook(BaseModel):
    """An agent's new-lead webhook (never its secret); GET adds the newest deliveries."""

    url: str
    secret_set: bool
    deliveries: list[LeadDeliveryEntry] | None = Field(
        default=None, description="GET only: the newest deliveries first (at most 20)"
    )
