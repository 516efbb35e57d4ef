"""Reading the UI's forms into what the Administration port and the channel plugins take."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.channels.base import MASKED, ChannelField

EXECUTOR_KINDS = ("demo", "http", "python")
_HEADER_LINE = re.compile(r"^([^:]+):(.*)$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


class FormErrors(Exception):
    """Field name -> what is wrong with it, in words a person can act on."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(fields)))
        self.fields = fields


def executor_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The executor spec the agent form describes; the core checks the rest."""
    kind = form.get("kind", "").strip()
    spec: dict[str, Any] = {"kind": kind}
    errors: dict[str, str] = {}
    if kind == "http":
        spec["url"] = form.get("url", "").strip()
        timeout = form.get("timeout_s", "").strip()
        if timeout:
            try:
                spec["timeout_s"] = float(timeout)
            except ValueError:
                errors["timeout_s"] = "must be a number of seconds, e.g. 30"
        headers: dict[str, str] = {}
        for line in form.get("headers", "").splitlines():
            if not line.strip():
                continue
            match = _HEADER_LINE.match(line)
            if match is None:
                errors["headers"] = "write one header per line as Name: value"
                break
            headers[match.group(1).strip()] = match.group(2).strip()
        if headers:
            spec["headers"] = headers
    elif kind == "python":
        spec["target"] = form.get("target", "").strip()
    if errors:
        raise FormErrors(errors)
    return spec


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
