"""Reading the UI's forms into what the Administration port and the channel plugins take."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from adapters.channels.base import MASKED, ChannelField

EXECUTOR_KINDS = ("demo", "http", "python", "openai", "langgraph_server")
MASKED_VALUE = MASKED  # what the core reads as "keep the stored secret"
NEW_HEADER_ROWS = 2  # blank header rows a form offers (more after saving)
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


class FormErrors(Exception):
    """Field name -> what is wrong with it, in words a person can act on."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(fields)))
        self.fields = fields


FormData = MultiDict[str, str]  # a submitted form, as Quart gives it


def _number(
    form: FormData, name: str, spec: dict[str, Any], errors: dict[str, str], why: str
) -> None:
    raw = form.get(name, "").strip()
    if not raw:
        return
    try:
        value = float(raw)
    except ValueError:
        errors[name] = why
        return
    spec[name] = int(value) if name == "max_tokens" and value.is_integer() else value


def header_rows(form: FormData) -> list[tuple[str, str]]:
    """(name, value) of the header rows filled in; a row whose name is empty is dropped."""
    names, values = form.getlist("header_name"), form.getlist("header_value")
    values += [""] * (len(names) - len(values))
    return [(n.strip(), v.strip()) for n, v in zip(names, values, strict=False) if n.strip()]


def executor_from_form(form: FormData) -> dict[str, Any]:
    """The executor spec the agent form describes; the core checks the rest.

    Secrets left empty are sent as "keep the stored one" (an `api_key` left out, a header
    value `***`); the core refuses that when nothing is stored."""
    kind = form.get("kind", "").strip()
    spec: dict[str, Any] = {"kind": kind}
    errors: dict[str, str] = {}
    if kind in ("http", "python", "openai", "langgraph_server"):
        _number(form, "timeout_s", spec, errors, "must be a number of seconds, e.g. 30")
    if kind == "http":
        spec["url"] = form.get("url", "").strip()
        headers = {name: value or MASKED_VALUE for name, value in header_rows(form)}
        if headers:
            spec["headers"] = headers
    elif kind == "python":
        spec["target"] = form.get("target", "").strip()
        if form.get("memory", "").strip():
            spec["memory"] = form.get("memory", "").strip()
    elif kind in ("openai", "langgraph_server"):
        if kind == "openai":
            for name in ("base_url", "model", "system_prompt"):
                if form.get(name, "").strip():
                    spec[name] = form.get(name, "").strip()
            spec.setdefault("model", "")
            _number(form, "temperature", spec, errors, "must be a number from 0 to 2")
            _number(form, "max_tokens", spec, errors, "must be a whole number, e.g. 500")
        else:
            spec["url"] = form.get("url", "").strip()
            spec["assistant_id"] = form.get("assistant_id", "").strip()
        api_key = form.get("api_key", "").strip()
        if form.get("clear_api_key"):
            spec["api_key"] = None
        elif api_key:
            spec["api_key"] = api_key
    if errors:
        raise FormErrors(errors)
    return spec


def typed_executor_secrets(form: FormData) -> list[str]:
    """The secret fields of the agent form a person typed (never sent back to the browser)."""
    typed = ["api_key"] if form.get("api_key", "").strip() else []
    if any(value for _, value in header_rows(form)):
        typed.append("headers")
    return typed


def agent_field(core_field: str) -> str:
    """`executor.url` (the core's name) -> `url` (the form's input)."""
    name = core_field.removeprefix("executor.")
    return "kind" if name == "executor" else name


def channel_body(fields: tuple[ChannelField, ...], form: Mapping[str, str]) -> dict[str, Any]:
    """A Deploy form as the body its plugin validates (the admin API's PUT): every field as
    typed, a secret left empty keeping the stored one, and `enabled`. A telephone input
    in international form loses its spacing ("+1 415 523 8886" as people copy it)."""
    body: dict[str, Any] = {}
    for f in fields:
        value = form.get(f.name, "")
        if f.input_type == "tel" and value.strip().startswith("+"):
            value = _PHONE_PUNCTUATION.sub("", value)
        body[f.name] = value
    body["enabled"] = True
    return body


def typed_secrets(fields: tuple[ChannelField, ...], form: Mapping[str, str]) -> list[str]:
    """The secret fields a person filled in (they are not sent back when the form fails)."""
    return [f.name for f in fields if f.secret and form.get(f.name, "").strip() not in ("", MASKED)]
