"""An agent whose code takes the whole process down on one message, as a segfault or the OOM
killer would (`os.kill` with SIGKILL cannot be caught, unlike `sys.exit`)."""

from __future__ import annotations

import os
import signal
from typing import Any

POISON = "poison!"


async def kill_on_poison(payload: dict[str, Any]) -> str:
    if payload["message"] == POISON:
        os.kill(os.getpid(), signal.SIGKILL)
    return f"fine: {payload['message']}"


async def exits(payload: dict[str, Any]) -> str:
    """Agent code that calls sys.exit: contained, the gateway keeps answering."""
    if payload["message"] == "exit":
        raise SystemExit(3)
    return f"fine: {payload['message']}"
