"""Which keyring the vault uses, per environment.

- `VAULT_KEYS` set: that keyring (required in prod).
- dev/test on SQLite: a keyring generated into DATA_DIR (0600), next to the database file.
- dev/test on PostgreSQL without `VAULT_KEYS`: several processes share the database but maybe
  not a DATA_DIR, so the generated dev keyring is kept in the database itself, created once by
  whichever process starts first. That protects nothing against someone holding the database,
  which is why prod refuses to start without `VAULT_KEYS`; it is a development convenience.
"""

from __future__ import annotations

import logging

from adapters.persistence.tortoise.database import is_sqlite
from adapters.persistence.tortoise.sql import execute, fetch
from adapters.vault.aesgcm import AesGcmVault, KeyRing, load_or_create_dev_keyring
from config.settings import Settings, SettingsError, parse_vault_keys
from ports.errors import VaultError

log = logging.getLogger(__name__)
DEV_KEYRING_SETTING = "vault.dev_keyring"


def make_keyring(settings: Settings) -> KeyRing | None:
    """The keyring known at start, or None when it must be read from the database.

    Raises SettingsError (naming VAULT_KEYS or the dev keyring's file, never key material)."""
    if settings.vault_keys:
        return parse_vault_keys(settings.vault_keys)
    if settings.app_env == "prod":
        raise SettingsError("VAULT_KEYS is required when APP_ENV=prod")
    if is_sqlite(settings.database_url):
        try:
            return load_or_create_dev_keyring(settings.data_dir)
        except ValueError as exc:  # the file is damaged; its message names the path only
            raise SettingsError(f"DATA_DIR's development keyring: {exc}") from None
    return None


# Secrets opened and kept, at most this many (then the memo starts over).
OPENED_MAX = 1024


class ConfiguredVault:
    """SecretVault over AesGcmVault whose keyring may be installed once the database is open.

    Opening is memoised by (ciphertext, context): every message opens its channel's auth
    token (webhook signature, typing indicator, send) and its agent's sealed executor
    secrets, and a sealed value never changes (a new secret or a rotation is a new ciphertext,
    with fresh nonces). What the memo holds is what each caller held anyway; it is emptied
    when a keyring is installed, so a key removed from the ring stops opening anything."""

    def __init__(self, keyring: KeyRing | None) -> None:
        self._vault = AesGcmVault(keyring) if keyring is not None else None
        self._opened: dict[tuple[str, str], str] = {}

    @property
    def ready(self) -> bool:
        return self._vault is not None

    def install(self, keyring: KeyRing) -> None:
        self._vault = AesGcmVault(keyring)
        self._opened.clear()

    def _inner(self) -> AesGcmVault:
        if self._vault is None:
            raise VaultError("the vault's keyring is not loaded yet")
        return self._vault

    def encrypt(self, plaintext: str, context: str) -> str:
        return self._inner().encrypt(plaintext, context)

    def decrypt(self, ciphertext: str, context: str) -> str:
        key = (ciphertext, context)
        opened = self._opened.get(key)
        if opened is None:
            opened = self._inner().decrypt(ciphertext, context)  # VaultError: nothing kept
            if len(self._opened) >= OPENED_MAX:
                self._opened.clear()
            self._opened[key] = opened
        return opened

    def is_current(self, ciphertext: str) -> bool:
        return self._inner().is_current(ciphertext)

    def __repr__(self) -> str:
        return f"ConfiguredVault({self._vault!r})"


async def load_database_keyring(vault: ConfiguredVault) -> None:
    """dev/test on PostgreSQL without VAULT_KEYS: the shared dev keyring (see the module doc)."""
    if vault.ready:
        return
    select = "SELECT value FROM setting WHERE name = ?"
    rows = await fetch(select, [DEV_KEYRING_SETTING])
    if not rows:
        candidate = KeyRing.generate("dev1").serialize()
        insert = "INSERT INTO setting (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
        await execute(insert, [DEV_KEYRING_SETTING, candidate])
        rows = await fetch(select, [DEV_KEYRING_SETTING])
    vault.install(KeyRing.parse(rows[0]["value"]))
    log.warning("no VAULT_KEYS: using the development keyring kept in the database")
