"""Shared test helpers: Twilio request signing and settings rooted in a temporary DATA_DIR."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from config.settings import Settings

SettingsFactory = Callable[..., Settings]


def twilio_signature(url: str, params: Mapping[str, str], token: str) -> str:
    """`X-Twilio-Signature` exactly as Twilio computes it (the SDK's own algorithm)."""
    return str(RequestValidator(token).compute_signature(url, dict(params)))


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings as `Settings.from_env` reads them, with DATA_DIR in the test's tmp_path.

    Keyword arguments are environment variables (`PUBLIC_BASE_URL="https://gw.example"`)."""

    def make(**env: str) -> Settings:
        values = {"APP_ENV": "test", "DATA_DIR": str(tmp_path)}
        values.update(env)
        return Settings.from_env(values)

    return make
