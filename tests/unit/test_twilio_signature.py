"""The signing helper the e2e tests use, checked against Twilio's published example; and the
gateway's own signature check, which must decide as the SDK's validator does."""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from adapters.twilio.signature import signature_valid
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


# --- the gateway's own check (adapters/twilio/signature.py) against the SDK's ----------------

_names = st.text(min_size=1, max_size=12)
_values = st.text(max_size=20)
_forms = st.lists(st.tuples(_names, _values), max_size=8)
_urls = st.sampled_from(
    [
        "https://gw.example/webhooks/twilio/a",
        "https://gw.example:443/webhooks/twilio/a",
        "https://gw.example:8443/webhooks/twilio/a?x=1&y=2",
        "http://127.0.0.1:8000/webhooks/twilio/a",
        "http://gw.example/webhooks/twilio/a",
        "http://gw.example:80/webhooks/twilio/a?bodySHA256=abc",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    url=_urls,
    items=_forms,
    token=st.text(min_size=1, max_size=16),
    signed_url=_urls,
    extra=st.lists(st.tuples(_names, _values), max_size=2),
    signature=st.one_of(st.none(), st.text(max_size=40)),
)
def test_the_gateways_check_decides_as_the_sdk_does(
    url: str,
    items: list[tuple[str, str]],
    token: str,
    signed_url: str,
    extra: list[tuple[str, str]],
    signature: str | None,
) -> None:
    form = MultiDict(items)
    if signature is None:  # signed by Twilio, maybe over another URL or other parameters
        signature = RequestValidator(token).compute_signature(signed_url, MultiDict(items + extra))
    sdk = RequestValidator(token).validate(url, form, signature)
    assert signature_valid(token, url, form, signature) is bool(sdk)


def test_the_gateways_check_accepts_twilios_published_example() -> None:
    form = MultiDict(list(DOC_PARAMS.items()))
    assert signature_valid(DOC_TOKEN, DOC_URL, form, DOC_SIGNATURE)
    assert not signature_valid(DOC_TOKEN, DOC_URL, MultiDict({"Digits": "1"}), DOC_SIGNATURE)
    assert not signature_valid("54321", DOC_URL, form, DOC_SIGNATURE)
    assert not signature_valid(DOC_TOKEN, DOC_URL, form, "")
    assert not signature_valid(DOC_TOKEN, DOC_URL, form, "é" * 28)
