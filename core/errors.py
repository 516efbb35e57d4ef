"""The DomainError family; the composition root maps each to an HTTP status in one place."""

from __future__ import annotations

from ports.errors import InvalidInput, NotFound, Refused


class DomainError(Exception):
    """Base of the errors the use cases raise on purpose."""


class ValidationFailed(DomainError, InvalidInput):
    """Input broke a rule; `fields` says which field and why (a port InvalidInput too, so an
    adapter calling a driving port can show the fields without importing core)."""


class RefusedError(DomainError, Refused):
    """The state forbids the operation now; the message says why (shown with a 409)."""


class NotFoundError(DomainError, NotFound):
    """The thing does not exist, or belongs to another workspace (a port NotFound too, so an
    adapter calling a driving port needs no import from core)."""
