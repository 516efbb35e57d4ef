"""LEAD_WEBHOOK_RETRY_BASE_S sets the lead webhook's first retry wait; a bad value is refused
at start, naming the variable."""

from __future__ import annotations

import pytest

from config.container import build_container
from config.settings import Settings, SettingsError
from tests.conftest import SettingsFactory


def test_the_default_and_a_configured_first_wait(make_settings: SettingsFactory) -> None:
    default = build_container(make_settings(), persistence="memory").lead_events()
    assert default.policy.schedule()[:3] == [10.0, 20.0, 40.0]
    fast = build_container(make_settings(LEAD_WEBHOOK_RETRY_BASE_S="0.5"), persistence="memory")
    assert fast.lead_events().policy.schedule()[:3] == [0.5, 1.0, 2.0]
    assert fast.lead_events().policy.max_delay_s == 3600


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_bad_value_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="LEAD_WEBHOOK_RETRY_BASE_S"):
        Settings.from_env({"LEAD_WEBHOOK_RETRY_BASE_S": value})
