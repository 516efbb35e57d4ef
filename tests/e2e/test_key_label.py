"""`python -m app keys create --label`: the label is kept with the key's hash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app import main
from config.container import build_container
from config.lifecycle import database_session
from config.settings import Settings


def test_keys_create_keeps_the_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {"APP_ENV": "test", "DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOG_FORMAT", "console")
    assert main(["keys", "create", "--workspace", "acme", "--label", "Maria at support"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["keys", "create", "--workspace", "acme"]) == 0
    plain = capsys.readouterr().out.strip().splitlines()[-1]

    async def owners() -> tuple[object, object]:
        settings = Settings.from_env({"APP_ENV": "test", "DATA_DIR": str(tmp_path)})
        async with database_session(build_container(settings)) as container:
            admin = container.admin()
            return await admin.identify(key), await admin.identify(plain)

    labelled, unlabelled = asyncio.run(owners())
    assert getattr(labelled, "label", "") == "Maria at support"
    assert unlabelled is not None and getattr(unlabelled, "label", "") is None
