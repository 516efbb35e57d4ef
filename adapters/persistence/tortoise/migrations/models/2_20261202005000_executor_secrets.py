"""Agents can change: `agent.updated_at` (NULL until an agent is first edited), which also lets
maintenance rewrite an executor only if nobody edited it meanwhile (compare and set).

Executor secrets stored in plain text before this version (`http` header values) cannot be
encrypted here: SQL has no access to the vault. The service seals them at start, right after
the migrations (`AdministrationService.seal_plaintext_secrets`, run by config/lifecycle.py);
until then they keep working as they are."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

_SQLITE = """
ALTER TABLE "agent" ADD COLUMN "updated_at" TIMESTAMP;
"""

_POSTGRES = """
ALTER TABLE "agent" ADD COLUMN "updated_at" TIMESTAMPTZ;
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    if db.schema_generator.DIALECT == "postgres":
        return _POSTGRES
    return _SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return ""
