"""Migration 4 summarises the sessions a database already holds (last message, when, and
needs_attention), on SQLite and on PostgreSQL."""

from __future__ import annotations

from tests.contract.conftest import Stores
from tests.contract.test_identity_migration import (  # noqa: F401  (the fixture)
    OLD_SESSION,
    PHONE,
    T0,
    WORKSPACE,
    migrated,
)


async def test_old_sessions_are_in_the_inbox_with_their_last_message(migrated: Stores) -> None:  # noqa: F811
    page = await migrated.messages.list_sessions(WORKSPACE, None, None, None, 50, None)
    (summary,) = page.items
    assert (summary.session_id, summary.contact, summary.kind) == (OLD_SESSION, PHONE, "whatsapp")
    assert (summary.last_message, summary.last_message_at) == ("hello", T0)
    assert (summary.name, summary.paused, summary.needs_attention) == ("Ana", False, False)
    flagged = await migrated.messages.list_sessions(
        WORKSPACE, None, None, "needs_attention", 50, None
    )
    assert flagged.items == ()
