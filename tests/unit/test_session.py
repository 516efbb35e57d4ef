"""SessionId and PhoneNumber: self-validating value objects."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from core.session import LeadIdentity, SessionId
from ports.values import PhoneNumber


def test_session_id_is_channel_agent_and_phone_joined_by_underscores() -> None:
    agent = str(uuid.uuid4())
    assert str(SessionId("twilio", agent, "+14155550100")) == f"twilio_{agent}_+14155550100"


@pytest.mark.parametrize(
    ("channel", "agent", "contact"),
    [("", "a", "+14155550100"), ("twilio", "", "+14155550100"), ("twilio", "a", "")],
)
def test_session_id_parts_must_not_be_empty(channel: str, agent: str, contact: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        SessionId(channel, agent, contact)


def test_a_channel_name_with_an_underscore_is_refused() -> None:
    # It would make `{channel}_{agent}_{contact}` ambiguous.
    with pytest.raises(ValueError, match="_"):
        SessionId("twilio_sms", "a", "+14155550100")


def test_session_ids_are_immutable_values() -> None:
    one = SessionId("twilio", "a", "+14155550100")
    assert one == SessionId("twilio", "a", "+14155550100")
    assert hash(one) == hash(SessionId("twilio", "a", "+14155550100"))
    assert one != SessionId("twilio", "a", "+14155550101")
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.contact = "+1"  # type: ignore[misc]


def test_lead_identity_is_agent_platform_and_contact() -> None:
    assert LeadIdentity("a", "whatsapp", "+1415") == LeadIdentity("a", "whatsapp", "+1415")
    assert LeadIdentity("a", "whatsapp", "+1415") != LeadIdentity("a", "web", "+1415")


@pytest.mark.parametrize("value", ["+14155550100", "+5511987654321", "+4930123456"])
def test_e164_phone_numbers_are_accepted(value: str) -> None:
    assert str(PhoneNumber(value)) == value


@pytest.mark.parametrize(
    "value", ["14155550100", "+0155550100", "+1 415 555 0100", "whatsapp:+14155550100", "+12345"]
)
def test_other_phone_numbers_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        PhoneNumber(value)
