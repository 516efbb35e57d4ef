"""The DomainError family; the composition root maps each to an HTTP status in one place."""

from __future__ import annotations

from ports.errors import NotFound


class DomainError(Exception):
    """Base of the errors the use cases raise on purpose."""


class ValidationFailed(DomainError):
    """Input broke a rule; `fields` says which field and why."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid fields: " + ", ".join(sorted(fields)))
        self.fields = fields


class NotFoundError(DomainError, NotFound):
    """The thing does not exist, or belongs to another workspace (a port NotFound too, so an
    adapter calling a driving port needs no import from core)."""
