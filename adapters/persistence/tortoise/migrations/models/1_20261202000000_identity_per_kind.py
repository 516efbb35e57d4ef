"""Identity per (agent, kind): external ids unique per agent and channel kind, sessions keep
their kind (the channel's name, not its session prefix). Existing rows are kept."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

# A session's kind is its lead's platform (the first version stored the channel kind there,
# and the session prefix, e.g. `twilio`, in session.channel).
_KIND_OF_SESSION = '(SELECT l.platform FROM "lead" l WHERE l.id = s.lead_id)'

# SQLite cannot drop the column's inline UNIQUE: the table is rebuilt, ids kept.
_SQLITE = f"""
CREATE TABLE "message_new" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "role" VARCHAR(16) NOT NULL,
    "content" TEXT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "pending" INT NOT NULL,
    "agent_id" CHAR(36) NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "external_id" VARCHAR(128),
    "reply_to_id" BIGINT,
    "attempt_started_at" TIMESTAMP,
    "error" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "session_id" VARCHAR(255) NOT NULL REFERENCES "session" ("id") ON DELETE CASCADE
);
INSERT INTO "message_new" (id, role, content, status, pending, agent_id, kind, external_id,
    reply_to_id, attempt_started_at, error, created_at, updated_at, session_id)
SELECT m.id, m.role, m.content, m.status, m.pending, s.agent_id, {_KIND_OF_SESSION},
    m.external_id, m.reply_to_id, m.attempt_started_at, m.error, m.created_at, m.updated_at,
    m.session_id
FROM "message" m JOIN "session" s ON s.id = m.session_id;
DROP TABLE "message";
ALTER TABLE "message_new" RENAME TO "message";
CREATE INDEX "idx_message_session_4db671" ON "message" ("session_id", "id");
CREATE INDEX "idx_message_session_4bd0b3" ON "message" ("session_id", "pending", "id");
CREATE INDEX "idx_message_pending_ca8e3a" ON "message" ("pending", "session_id");
CREATE UNIQUE INDEX "uid_message_agent_kind_external" ON "message" (
    "agent_id", "kind", "external_id");
ALTER TABLE "session" RENAME COLUMN "channel" TO "kind";
UPDATE "session" SET "kind" = (SELECT l.platform FROM "lead" l WHERE l.id = "session".lead_id);
"""

_POSTGRES = f"""
ALTER TABLE "message" ADD COLUMN "agent_id" UUID;
ALTER TABLE "message" ADD COLUMN "kind" VARCHAR(32);
UPDATE "message" m SET "agent_id" = s.agent_id, "kind" = {_KIND_OF_SESSION}
FROM "session" s WHERE s.id = m.session_id;
ALTER TABLE "message" ALTER COLUMN "agent_id" SET NOT NULL;
ALTER TABLE "message" ALTER COLUMN "kind" SET NOT NULL;
ALTER TABLE "message" DROP CONSTRAINT IF EXISTS "message_external_id_key";
CREATE UNIQUE INDEX "uid_message_agent_kind_external" ON "message" (
    "agent_id", "kind", "external_id");
ALTER TABLE "session" RENAME COLUMN "channel" TO "kind";
UPDATE "session" SET "kind" = l.platform FROM "lead" l WHERE l.id = "session".lead_id;
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    if db.schema_generator.DIALECT == "postgres":
        return _POSTGRES
    return _SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return ""
