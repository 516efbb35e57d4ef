"""Answer attempts counted on each user message (poison quarantine), and delivery reports
parked until their message's provider id is stored."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

_SQLITE = """
ALTER TABLE "message" ADD COLUMN "attempts" INT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS "parked_delivery" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "agent_id" CHAR(36) NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "external_id" VARCHAR(128) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "error" TEXT,
    "created_at" TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_parked_key" ON "parked_delivery" ("agent_id", "kind", "external_id");
CREATE INDEX IF NOT EXISTS "idx_parked_created" ON "parked_delivery" ("created_at");
"""

_POSTGRES = """
ALTER TABLE "message" ADD COLUMN "attempts" INT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS "parked_delivery" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "agent_id" UUID NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "external_id" VARCHAR(128) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "error" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_parked_key" ON "parked_delivery" ("agent_id", "kind", "external_id");
CREATE INDEX IF NOT EXISTS "idx_parked_created" ON "parked_delivery" ("created_at");
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    if db.schema_generator.DIALECT == "postgres":
        return _POSTGRES
    return _SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return ""
