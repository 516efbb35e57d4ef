"""The inbox and human takeover: each session row carries its summary (last message, when,
and the `needs_attention` flag the core decides), indexed for the workspace's newest-first
list, and its paused flag with who paused it; a human's message keeps its author; an API key
keeps the label it was created with. Existing sessions are summarised once, here."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

_COMMON = """
UPDATE "session" SET "last_message_id" = (
    SELECT MAX(m.id) FROM "message" m WHERE m.session_id = "session".id);
UPDATE "session" SET
    "last_message_at" = (SELECT m.created_at FROM "message" m
                         WHERE m.id = "session".last_message_id),
    "last_message" = (SELECT substr(m.content, 1, 280) FROM "message" m
                      WHERE m.id = "session".last_message_id),
    "needs_attention" = EXISTS (
        SELECT 1 FROM "message" m WHERE m.id = "session".last_message_id AND (
            m.status IN ('failed', 'undelivered', 'unknown')
            OR EXISTS (SELECT 1 FROM "message" u
                       WHERE u.id = m.reply_to_id AND u.status = 'failed')));
CREATE INDEX IF NOT EXISTS "idx_session_activity" ON "session" ("last_message_id");
CREATE INDEX IF NOT EXISTS "idx_session_agent_activity" ON "session" (
    "agent_id", "last_message_id");
CREATE INDEX IF NOT EXISTS "idx_session_attention" ON "session" (
    "needs_attention", "last_message_id");
CREATE INDEX IF NOT EXISTS "idx_session_paused" ON "session" ("paused", "last_message_id");
"""

_SQLITE = (
    """
ALTER TABLE "session" ADD COLUMN "last_message_id" BIGINT;
ALTER TABLE "session" ADD COLUMN "last_message_at" TIMESTAMP;
ALTER TABLE "session" ADD COLUMN "last_message" TEXT;
ALTER TABLE "session" ADD COLUMN "paused" INT NOT NULL DEFAULT 0;
ALTER TABLE "session" ADD COLUMN "needs_attention" INT NOT NULL DEFAULT 0;
ALTER TABLE "session" ADD COLUMN "paused_by" VARCHAR(200);
ALTER TABLE "session" ADD COLUMN "paused_at" TIMESTAMP;
ALTER TABLE "message" ADD COLUMN "author" VARCHAR(200);
ALTER TABLE "api_key" ADD COLUMN "label" VARCHAR(100);
"""
    + _COMMON
)

_POSTGRES = (
    """
ALTER TABLE "session" ADD COLUMN "last_message_id" BIGINT;
ALTER TABLE "session" ADD COLUMN "last_message_at" TIMESTAMPTZ;
ALTER TABLE "session" ADD COLUMN "last_message" TEXT;
ALTER TABLE "session" ADD COLUMN "paused" BOOL NOT NULL DEFAULT FALSE;
ALTER TABLE "session" ADD COLUMN "needs_attention" BOOL NOT NULL DEFAULT FALSE;
ALTER TABLE "session" ADD COLUMN "paused_by" VARCHAR(200);
ALTER TABLE "session" ADD COLUMN "paused_at" TIMESTAMPTZ;
ALTER TABLE "message" ADD COLUMN "author" VARCHAR(200);
ALTER TABLE "api_key" ADD COLUMN "label" VARCHAR(100);
"""
    + _COMMON
)


async def upgrade(db: BaseDBAsyncClient) -> str:
    if db.schema_generator.DIALECT == "postgres":
        return _POSTGRES
    return _SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return ""
