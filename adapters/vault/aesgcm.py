"""SecretVault adapter: envelope encryption with AES-256-GCM and a rotating keyring.

Keyring (`VAULT_KEYS`): ``kid1:KEY1,kid2:KEY2``; every KEY is 32 random bytes in standard
base64 (``openssl rand -base64 32``) or base64url, padded or not; key ids match
``[A-Za-z0-9_-]{1,32}``, and the LAST entry is the newest key, the one new secrets are sealed
with. Older keys stay only to open secrets sealed before a rotation (``vault rotate`` rewraps
those with the newest key).

Each secret gets its own fresh 256-bit data key (DEK). The DEK encrypts the UTF-8 plaintext;
the newest keyring key (the key-encryption key, KEK) encrypts the DEK. The ciphertext is one
ASCII string::

    v1.<kid>.<b64url(wrap_nonce | wrapped_dek)>.<b64url(nonce | encrypted_plaintext)>

base64url without padding; nonces are 12 random bytes; both blobs carry their 16-byte GCM
tag at the end. Associated data binds both layers to the format version and to the caller's
``context`` (for example ``agent:<id>:channel:<kind>:auth_token``); the wrapping layer also binds
the key id. A ciphertext moved to another context, another key id or another version fails
to open. Every failure raises ``VaultError`` naming at most the key id and the context.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ports.errors import VaultError

__all__ = ["AesGcmVault", "KeyRing", "load_or_create_dev_keyring"]

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
VERSION = "v1"
DEV_KEYRING_FILE = "vault.keys"

_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_KEY_STANDARD_RE = re.compile(r"[A-Za-z0-9+/]*")
_KEY_URLSAFE_RE = re.compile(r"[A-Za-z0-9_-]*")
_WRAP_BLOB_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict base64url (padding optional); raises ValueError without echoing the input."""
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not base64url")
    body = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _decode_key(text: str) -> bytes:
    """A keyring key in standard base64 or base64url (one alphabet, not both), padding
    optional but correct when present; raises ValueError without echoing the input."""
    body = text.rstrip("=")
    padding = len(text) - len(body)
    if padding > 2 or (padding and len(text) % 4) or len(body) % 4 == 1:
        raise ValueError("not base64")
    if _KEY_URLSAFE_RE.fullmatch(body):
        decode = base64.urlsafe_b64decode
    elif _KEY_STANDARD_RE.fullmatch(body):
        decode = base64.standard_b64decode
    else:
        raise ValueError("not base64")
    try:
        return decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def _check_kid(kid: str) -> None:
    if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
        raise ValueError("key id must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-'")


class KeyRing:
    """Ordered key ids to 32-byte keys; the last one is the newest (active) key. Immutable."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        ordered: dict[str, bytes] = {}
        for kid, key in keys:
            _check_kid(kid)
            if kid in ordered:
                raise ValueError(f"duplicate key id {kid!r}")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ValueError(f"key {kid!r} must be exactly {KEY_BYTES} bytes")
            ordered[kid] = key
        if not ordered:
            raise ValueError("keyring is empty")
        self._keys = ordered

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Parse ``kid1:BASE64KEY,kid2:BASE64KEY`` (newest last; standard base64 or base64url).

        Raises ValueError; messages name entry positions and key ids, never key material."""
        entries = [part.strip() for part in text.split(",")] if text else []
        if not any(entries):
            raise ValueError("VAULT_KEYS is empty; expected 'kid:base64-key[,kid:key...]'")
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            if not entry:
                raise ValueError(f"VAULT_KEYS entry {position} is empty")
            kid, sep, encoded = entry.partition(":")
            kid = kid.strip()
            if not sep or not _KID_RE.fullmatch(kid):
                raise ValueError(
                    f"VAULT_KEYS entry {position}: expected 'kid:base64-key' with a key id "
                    "of 1-32 characters A-Z, a-z, 0-9, '_' or '-'"
                )
            try:
                key = _decode_key(encoded.strip())
            except ValueError:
                raise ValueError(
                    f"VAULT_KEYS key {kid!r} (entry {position}) is not valid base64 "
                    "(standard or URL-safe alphabet)"
                ) from None
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"VAULT_KEYS key {kid!r} (entry {position}) must decode to {KEY_BYTES} "
                    f"bytes, got {len(key)}"
                )
            keys.append((kid, key))
        try:
            return cls(keys)
        except ValueError as exc:  # duplicate ids; the message holds no key material
            raise ValueError(f"VAULT_KEYS: {exc}") from None

    @classmethod
    def generate(cls, kid: str) -> KeyRing:
        """A ring holding one fresh random key."""
        return cls([(kid, secrets.token_bytes(KEY_BYTES))])

    def with_new_key(self, kid: str) -> KeyRing:
        """A copy of this ring with a fresh random key appended as the newest."""
        return KeyRing([*self._keys.items(), (kid, secrets.token_bytes(KEY_BYTES))])

    def serialize(self) -> str:
        """The ``VAULT_KEYS`` form of this ring (contains key material: treat as a secret)."""
        return ",".join(f"{kid}:{_b64url_encode(key)}" for kid, key in self._keys.items())

    @property
    def newest_id(self) -> str:
        return next(reversed(self._keys))

    @property
    def ids(self) -> tuple[str, ...]:
        """Key ids, oldest first."""
        return tuple(self._keys)

    def key(self, kid: str) -> bytes | None:
        return self._keys.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self._keys)!r})"

    __str__ = __repr__


def load_or_create_dev_keyring(data_dir: Path) -> KeyRing:
    """Read ``data_dir/vault.keys``, or create it with one fresh key (dev only).

    The file is written to a private temporary file (O_CREAT|O_EXCL, mode 0o600) and then
    hard-linked into place, so it is never readable by others, never seen half-written and
    never overwrites a keyring another process created at the same moment. A ``data_dir``
    this creates is made 0o700."""
    path = Path(data_dir) / DEV_KEYRING_FILE
    try:
        return _read_keyring(path)
    except FileNotFoundError:
        pass
    _make_private_dir(path.parent)
    ring = KeyRing.generate("dev1")
    tmp = path.with_name(f".{DEV_KEYRING_FILE}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(ring.serialize() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process won the race: use its keyring
            return _read_keyring(path)
    finally:
        tmp.unlink(missing_ok=True)
    return ring


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if absent; the directory made for it gets 0o700
    whatever the umask. An existing directory is left as it is (it may be shared, like ".")."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # created meanwhile by another process, which made it private
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _read_keyring(path: Path) -> KeyRing:
    text = path.read_text(encoding="ascii", errors="replace")
    try:
        return KeyRing.parse(text.strip())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _aad(layer: str, context: str, kid: str | None = None) -> bytes:
    # Key ids cannot contain '|', and the context comes last, so the encoding is unambiguous.
    parts = [VERSION, layer] if kid is None else [VERSION, layer, kid]
    return "|".join([*parts, context]).encode("utf-8", "surrogatepass")


def _utf8(text: str) -> bytes | None:
    """UTF-8 bytes, or None (not an exception that would carry the text) when impossible."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None


class AesGcmVault:
    """SecretVault with envelope encryption (per-secret AES-256-GCM data keys, wrapped with
    the keyring's newest key)."""

    def __init__(self, keyring: KeyRing) -> None:
        self._ring = keyring
        self._keks: dict[str, AESGCM] = {}

    @property
    def keyring(self) -> KeyRing:
        return self._ring

    def __repr__(self) -> str:
        return f"AesGcmVault(newest_id={self._ring.newest_id!r}, ids={list(self._ring.ids)!r})"

    __str__ = __repr__

    def encrypt(self, plaintext: str, context: str) -> str:
        if not isinstance(plaintext, str) or not isinstance(context, str):
            raise VaultError("cannot encrypt secret: plaintext and context must be text")
        kid = self._ring.newest_id
        data = _utf8(plaintext)
        if data is None:
            raise VaultError(f"cannot encrypt secret for context {context!r}: not valid text")
        data_aad = _aad("data", context)
        wrap_aad = _aad("wrap", context, kid)
        dek = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        body = nonce + AESGCM(dek).encrypt(nonce, data, data_aad)
        wrap_nonce = os.urandom(NONCE_BYTES)
        wrapped = wrap_nonce + self._kek(kid).encrypt(wrap_nonce, dek, wrap_aad)
        return ".".join((VERSION, kid, _b64url_encode(wrapped), _b64url_encode(body)))

    def decrypt(self, ciphertext: str, context: str) -> str:
        if not isinstance(context, str):
            raise VaultError("cannot decrypt secret: context must be text")
        parsed = self._split(ciphertext)
        if parsed is None:
            raise VaultError(f"malformed ciphertext for context {context!r}")
        kid, wrapped, body = parsed
        if kid not in self._ring:
            raise VaultError(f"unknown key id {kid!r} for context {context!r}")
        wrap_aad = _aad("wrap", context, kid)
        data_aad = _aad("data", context)
        try:
            dek = self._kek(kid).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], wrap_aad)
            data = AESGCM(dek).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], data_aad)
            return data.decode("utf-8")
        except (InvalidTag, ValueError):
            pass  # raised below, outside the handler, so no inner exception is chained
        raise VaultError(
            f"cannot decrypt secret for context {context!r} with key id {kid!r} "
            "(wrong context, wrong key or tampered)"
        ) from None

    def is_current(self, ciphertext: str) -> bool:
        """True when the ciphertext is sealed with the newest key (False when malformed)."""
        parsed = self._split(ciphertext)
        return parsed is not None and parsed[0] == self._ring.newest_id

    def rewrap(self, ciphertext: str, context: str) -> str:
        """Open the secret and seal it again with the newest key (fresh data key and nonces)."""
        return self.encrypt(self.decrypt(ciphertext, context), context)

    def _kek(self, kid: str) -> AESGCM:
        kek = self._keks.get(kid)
        if kek is None:
            key = self._ring.key(kid)
            if key is None:
                raise VaultError(f"unknown key id {kid!r}")
            kek = self._keks[kid] = AESGCM(key)
        return kek

    @staticmethod
    def _split(ciphertext: str) -> tuple[str, bytes, bytes] | None:
        """(kid, wrap_nonce|wrapped_dek, nonce|ciphertext), or None when malformed."""
        parts = ciphertext.split(".") if isinstance(ciphertext, str) else []
        if len(parts) != 4 or parts[0] != VERSION or not _KID_RE.fullmatch(parts[1]):
            return None
        try:
            wrapped, body = _b64url_decode(parts[2]), _b64url_decode(parts[3])
        except ValueError:
            return None
        if len(wrapped) != _WRAP_BLOB_BYTES or len(body) < NONCE_BYTES + TAG_BYTES:
            return None
        return parts[1], wrapped, body
