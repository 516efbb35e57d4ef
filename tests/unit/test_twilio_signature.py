"""The signing helper the e2e tests use, checked against Twilio's published example."""

from __future__ import annotations

import base64
import hashlib
import hmac

from twilio.request_validator import RequestValidator

from tests.conftest import twilio_signature

# Twilio's documentation ("Webhooks security": validating signatures) works this example.
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_TOKEN = "12345"
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def by_hand(url: str, params: dict[str, str], token: str) -> str:
    """The algorithm as Twilio describes it: URL + each name and value sorted by name,
    HMAC-SHA1 with the auth token, base64."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_the_helper_reproduces_twilios_published_signature() -> None:
    assert twilio_signature(DOC_URL, DOC_PARAMS, DOC_TOKEN) == DOC_SIGNATURE


def test_the_written_algorithm_gives_the_same_signature() -> None:
    assert by_hand(DOC_URL, DOC_PARAMS, DOC_TOKEN) == DOC_SIGNATURE


def test_the_sdk_validator_accepts_it_and_refuses_any_change() -> None:
    validator = RequestValidator(DOC_TOKEN)
    assert validator.validate(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert not validator.validate(DOC_URL, {**DOC_PARAMS, "Digits": "1235"}, DOC_SIGNATURE)
    assert not validator.validate(DOC_URL.replace("bar=2", "bar=3"), DOC_PARAMS, DOC_SIGNATURE)
    assert not RequestValidator("54321").validate(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
