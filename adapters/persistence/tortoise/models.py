"""ORM models; they never leave this adapter (stores map them to port value types)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Workspace(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "workspace"


class ApiKey(Model):
    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="api_keys", on_delete=fields.CASCADE
    )
    key_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    label = fields.CharField(max_length=100, null=True)  # who holds it, for the record

    class Meta:
        table = "api_key"


class Setting(Model):
    """Small facts the service keeps about itself (e.g. that the dev demo was set up)."""

    name = fields.CharField(max_length=100, primary_key=True)
    value = fields.TextField()

    class Meta:
        table = "setting"


class Agent(Model):
    id = fields.UUIDField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="agents", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    # The spec without secret values, plus their vault ciphertexts under "sealed".
    executor: Any = fields.JSONField()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(null=True)  # None until first changed

    class Meta:
        table = "agent"


class Channel(Model):
    id = fields.IntField(primary_key=True)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "models.Agent", related_name="channels", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=32)
    settings: Any = fields.JSONField()
    secrets: Any = fields.JSONField()  # vault ciphertexts only
    enabled = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "channel"
        unique_together = (("agent", "kind"),)


class Lead(Model):
    id = fields.BigIntField(primary_key=True)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "models.Agent", related_name="leads", on_delete=fields.CASCADE
    )
    platform = fields.CharField(max_length=32)
    contact = fields.CharField(max_length=128)
    name = fields.CharField(max_length=200, null=True)
    first_seen_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    message_count = fields.IntField(default=0)
    opted_out = fields.BooleanField(default=False)  # STOP/START (core.reachability)

    class Meta:
        table = "lead"
        unique_together = (("agent", "platform", "contact"),)


class Session(Model):
    id = fields.CharField(max_length=255, primary_key=True)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "models.Agent", related_name="sessions", on_delete=fields.CASCADE
    )
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="sessions", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=32)
    contact = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()
    # The summary the inbox lists, kept in the same transactions that change messages: the
    # id (activity order and cursor), time and preview of the last message, and the
    # needs_attention flag the core decided (core.operations).
    last_message_id = fields.BigIntField(null=True)
    last_message_at = fields.DatetimeField(null=True)
    last_message = fields.TextField(null=True)
    paused = fields.BooleanField(default=False)
    paused_by = fields.CharField(max_length=200, null=True)  # the pausing key's label
    paused_at = fields.DatetimeField(null=True)
    needs_attention = fields.BooleanField(default=False)

    class Meta:
        table = "session"
        indexes = (
            ("last_message_id",),
            ("agent", "last_message_id"),
            ("needs_attention", "last_message_id"),
            ("paused", "last_message_id"),
        )


class Message(Model):
    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[Session] = fields.ForeignKeyField(
        "models.Session", related_name="messages", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16)
    content = fields.TextField()
    status = fields.CharField(max_length=16)
    # True while the message still needs work; indexed so finding it never scans history.
    pending = fields.BooleanField(default=True)
    # The session's agent and channel kind, kept on the row: a channel's own message ids are
    # unique only per (agent, kind) (a bot's update ids count per bot).
    agent_id = fields.UUIDField()
    kind = fields.CharField(max_length=32)
    external_id = fields.CharField(max_length=128, null=True)
    reply_to_id = fields.BigIntField(null=True)
    attempt_started_at = fields.DatetimeField(null=True)
    # Attempts begun to answer a user message, counted before its agent is called.
    attempts = fields.IntField(default=0)
    error = fields.TextField(null=True)
    author = fields.CharField(max_length=200, null=True)  # a `human` message's key label
    template = fields.TextField(null=True)  # a human's template message: {"content_sid", ...}
    control = fields.CharField(max_length=16, null=True)  # STOP/START the gateway answers
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "message"
        indexes = (("session", "id"), ("session", "pending", "id"), ("pending", "session"))
        unique_together = (("agent_id", "kind", "external_id"),)


class ParkedDelivery(Model):
    """A delivery report that came before its message's provider id was stored."""

    id = fields.BigIntField(primary_key=True)
    agent_id = fields.UUIDField()
    kind = fields.CharField(max_length=32)
    external_id = fields.CharField(max_length=128)
    status = fields.CharField(max_length=16)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "parked_delivery"
        indexes = (("agent_id", "kind", "external_id"), ("created_at",))


class LeadWebhook(Model):
    """An agent's new-lead webhook; `secret` is a vault ciphertext."""

    agent: fields.OneToOneRelation[Agent] = fields.OneToOneField(
        "models.Agent", related_name="lead_webhook", on_delete=fields.CASCADE, primary_key=True
    )
    url = fields.CharField(max_length=2000)
    secret = fields.TextField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "lead_webhook"


class LeadDelivery(Model):
    """A lead event's delivery: the outbox row (written with the lead) and its log."""

    id = fields.BigIntField(primary_key=True)
    delivery_id = fields.CharField(max_length=36, unique=True)  # sent on every attempt
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "models.Agent", related_name="lead_deliveries", on_delete=fields.CASCADE
    )
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="deliveries", on_delete=fields.CASCADE
    )
    status = fields.CharField(max_length=16)  # pending, delivered, failed
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    next_attempt_at = fields.DatetimeField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)
    claimed_until = fields.DatetimeField(null=True)  # an attempt under way holds it until then
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    body = fields.BinaryField(null=True)  # the signed bytes, kept from the first attempt

    class Meta:
        table = "lead_delivery"
        indexes = (("status", "next_attempt_at"), ("agent", "id"))
