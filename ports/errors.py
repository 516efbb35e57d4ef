"""Errors that cross the port boundary; adapters translate their libraries' errors into these."""

from __future__ import annotations


class PortError(Exception):
    """Base of every error an adapter raises through a port."""


class StoreUnavailable(PortError):
    """The database could not be reached or the operation could not be committed."""


class NotFound(PortError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class InvalidInput(PortError):
    """Input broke a rule of the driving port; `fields` says which field and why."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid fields: " + ", ".join(sorted(fields)))
        self.fields = fields


class Conflict(PortError):
    """A uniqueness rule refused the write."""


class Refused(Conflict):
    """The request is well formed but the state forbids it now (a contact who opted out,
    a closed reply window); the message says why in words a caller may be shown."""


class ExecutorFailed(PortError):
    """The agent executor raised, answered badly or timed out."""


class SendFailed(PortError):
    """The provider refused the message for good (after any retries); `opted_out` when it
    refused because the contact opted out there (e.g. texted STOP to the provider)."""

    def __init__(self, message: str, *, code: str | None = None, opted_out: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.opted_out = opted_out


class SendOutcomeUnknown(PortError):
    """The request may have reached the provider but no answer came back."""


class VaultError(PortError):
    """A secret could not be encrypted or decrypted (wrong key, wrong owner, tampered)."""
