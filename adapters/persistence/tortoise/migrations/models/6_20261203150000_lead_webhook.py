"""The new-lead webhook: one per agent (its URL and the vault ciphertext of its secret), and
the delivery outbox, a row written in the transaction that creates a lead when its agent has
a webhook, which then logs the attempts (status, count, last answer, next attempt) and keeps
the signed body once built, so every retry sends the same bytes."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

_INDEXES = """
CREATE INDEX IF NOT EXISTS "idx_lead_delivery_due" ON "lead_delivery" ("status", "next_attempt_at");
CREATE INDEX IF NOT EXISTS "idx_lead_delivery_agent" ON "lead_delivery" ("agent_id", "id");
"""

_SQLITE = (
    """
CREATE TABLE IF NOT EXISTS "lead_webhook" (
    "agent_id" CHAR(36) NOT NULL PRIMARY KEY REFERENCES "agent" ("id") ON DELETE CASCADE,
    "url" VARCHAR(2000) NOT NULL,
    "secret" TEXT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "lead_delivery" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "delivery_id" VARCHAR(36) NOT NULL UNIQUE,
    "agent_id" CHAR(36) NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    "lead_id" BIGINT NOT NULL REFERENCES "lead" ("id") ON DELETE CASCADE,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP NOT NULL,
    "next_attempt_at" TIMESTAMP,
    "last_attempt_at" TIMESTAMP,
    "claimed_until" TIMESTAMP,
    "last_status_code" INT,
    "last_error" TEXT,
    "body" BLOB
);
"""
    + _INDEXES
)

_POSTGRES = (
    """
CREATE TABLE IF NOT EXISTS "lead_webhook" (
    "agent_id" UUID NOT NULL PRIMARY KEY REFERENCES "agent" ("id") ON DELETE CASCADE,
    "url" VARCHAR(2000) NOT NULL,
    "secret" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS "lead_delivery" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "delivery_id" VARCHAR(36) NOT NULL UNIQUE,
    "agent_id" UUID NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    "lead_id" BIGINT NOT NULL REFERENCES "lead" ("id") ON DELETE CASCADE,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL,
    "next_attempt_at" TIMESTAMPTZ,
    "last_attempt_at" TIMESTAMPTZ,
    "claimed_until" TIMESTAMPTZ,
    "last_status_code" INT,
    "last_error" TEXT,
    "body" BYTEA
);
"""
    + _INDEXES
)


async def upgrade(db: BaseDBAsyncClient) -> str:
    if db.schema_generator.DIALECT == "postgres":
        return _POSTGRES
    return _SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return ""
