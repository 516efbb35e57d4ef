"""Reading the UI's forms into what the Administration port takes, with field errors in words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.inbound.http.admin_api import ApiError, validate_whatsapp

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


def whatsapp_from_form(form: Mapping[str, str], token_stored: bool) -> dict[str, Any]:
    """Account SID, Auth Token (empty keeps the stored one) and phone number, validated with
    the admin API's rules. Raises FormErrors."""
    phone = form.get("phone_number", "").strip()
    if phone.startswith("+"):
        phone = _PHONE_PUNCTUATION.sub("", phone)  # "+1 415 523 8886" as people copy it
    body = {
        "account_sid": form.get("account_sid", "").strip(),
        "auth_token": form.get("auth_token", "").strip() or None,
        "phone_number": phone,
        "enabled": True,
    }
    try:
        return validate_whatsapp(body, token_stored)
    except ApiError as e:
        raise FormErrors(dict(e.fields or {})) from None
