"""Opt-out and reply windows (core.reachability): a lead keeps whether it opted out
(STOP/START); a human's template message keeps its template (JSON), and a stop or start word
the gateway answers itself says so (`control`). A reply window is measured from the lead's
`last_seen_at`, the time of the person's last message, which is stored already."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

_SQLITE = """
ALTER TABLE "lead" ADD COLUMN "opted_out" INT NOT NULL DEFAULT 0;
ALTER TABLE "message" ADD COLUMN "template" TEXT;
ALTER TABLE "message" ADD COLUMN "control" VARCHAR(16);
"""

_POSTGRES = """
ALTER TABLE "lead" ADD COLUMN "opted_out" BOOL NOT NULL DEFAULT FALSE;
ALTER TABLE "message" ADD COLUMN "template" TEXT;
ALTER TABLE "message" ADD COLUMN "control" VARCHAR(16);
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    if db.schema_generator.DIALECT == "postgres":
        return _POSTGRES
    return _SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return ""
