"""Executor secrets at rest: sealed in the vault, bound to their agent and field.

An agent's stored executor is its spec without secret values plus, under `sealed`, one vault
ciphertext per secret field (`api_key`, `header:<Name>`; the AgentExecutor port says which
fields are secrets). Each ciphertext is bound to `agent:<id>:executor:<field>`, so it opens
for that agent and field only. An executor stored before secrets were sealed still holds its
values in plain text: it runs as it is, is shown masked like any other, and
`AdministrationService.seal_plaintext_secrets` seals it at start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ports.driven import AgentExecutor, SecretVault
from ports.errors import ExecutorFailed, VaultError
from ports.values import AgentRequest

SEALED = "sealed"


def executor_secret_context(agent_id: str, field: str) -> str:
    """What an executor secret is bound to: a ciphertext opens for this agent and field only."""
    return f"agent:{agent_id}:executor:{field}"


def _public_part(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k != SEALED}


def _sealed_part(stored: Mapping[str, Any]) -> dict[str, str]:
    sealed = stored.get(SEALED)
    if not isinstance(sealed, Mapping):
        return {}
    return {str(k): v for k, v in sealed.items() if isinstance(v, str)}


class ExecutorSecrets:
    """Seals, opens, masks and rotates the secrets of stored executor specs."""

    def __init__(self, executor: AgentExecutor, vault: SecretVault) -> None:
        self.executor = executor
        self.vault = vault

    def without_storage_fields(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A spec as a client sent it, minus what only storage may write (`sealed`)."""
        return _public_part(spec)

    def seal(self, agent_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The stored form of a runnable spec: secret values replaced by ciphertexts."""
        public, values = self.executor.split_secrets(_public_part(spec))
        if values:
            public[SEALED] = {
                name: self.vault.encrypt(value, executor_secret_context(agent_id, name))
                for name, value in values.items()
            }
        return public

    def open(self, agent_id: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The runnable spec of a stored one (VaultError when a ciphertext does not open)."""
        sealed = _sealed_part(stored)
        if not sealed:
            return _public_part(stored)
        opened = {
            name: self.vault.decrypt(value, executor_secret_context(agent_id, name))
            for name, value in sealed.items()
        }
        return self.executor.join_secrets(_public_part(stored), opened)

    def shown(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The spec as it may leave the service: secret names, never values (plain-text values
        of a spec stored before sealing are masked too)."""
        public, plain = self.executor.split_secrets(_public_part(stored))
        return self.executor.masked(public, [*_sealed_part(stored), *plain])

    def needs_sealing(self, stored: Mapping[str, Any]) -> bool:
        """True when a secret value is stored in plain text."""
        return bool(self.executor.split_secrets(_public_part(stored))[1])

    def rotated(self, agent_id: str, stored: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """The stored spec with every ciphertext not sealed by the newest key re-encrypted,
        and how many were."""
        sealed = _sealed_part(stored)
        fresh, changed = dict(sealed), 0
        for name, value in sealed.items():
            if not self.vault.is_current(value):
                context = executor_secret_context(agent_id, name)
                fresh[name] = self.vault.encrypt(self.vault.decrypt(value, context), context)
                changed += 1
        if not changed:
            return dict(stored), 0
        return {**_public_part(stored), SEALED: fresh}, changed


class OpenedSecretsExecutor:
    """AgentExecutor that runs a stored executor spec with its sealed secrets opened.

    Opening costs a few microseconds of AES-GCM per secret and no database access: the spec
    comes from the (cached) agent. A ciphertext that does not open (the keys changed) fails
    the answer like any executor failure, naming the context and key id only."""

    def __init__(self, inner: AgentExecutor, vault: SecretVault) -> None:
        self._inner = inner
        self._secrets = ExecutorSecrets(inner, vault)

    async def run(self, executor: dict[str, Any], request: AgentRequest) -> str:
        try:
            spec = self._secrets.open(request.agent_id, executor)
        except VaultError as e:
            raise ExecutorFailed(f"executor secret cannot be opened: {e}") from None
        return await self._inner.run(spec, request)

    def validate(self, executor: object) -> dict[str, str]:
        return self._inner.validate(executor)

    def split_secrets(self, executor: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        return self._inner.split_secrets(executor)

    def join_secrets(self, public: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        return self._inner.join_secrets(public, secrets)

    def masked(self, public: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
        return self._inner.masked(public, names)

    def keep_secrets(
        self, new: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return self._inner.keep_secrets(new, current)
