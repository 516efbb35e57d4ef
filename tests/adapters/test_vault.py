"""AesGcmVault and KeyRing: envelope encryption, context binding, rotation, keyring parsing."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from adapters.vault.aesgcm import AesGcmVault, KeyRing, load_or_create_dev_keyring
from ports.driven import SecretVault
from ports.errors import VaultError

CTX = "agent:1234:whatsapp:auth_token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _key_texts(ring: KeyRing) -> list[str]:
    """Every key of the ring as it appears in VAULT_KEYS, plus its raw bytes as text."""
    texts: list[str] = []
    for entry in ring.serialize().split(","):
        encoded = entry.split(":", 1)[1]
        texts += [encoded, repr(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))]
    return texts


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate("k1")


@pytest.fixture
def vault(ring: KeyRing) -> AesGcmVault:
    return AesGcmVault(ring)


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_satisfies_secret_vault_port(vault: AesGcmVault) -> None:
    port: SecretVault = vault
    assert port.decrypt(port.encrypt("x", CTX), CTX) == "x"


@pytest.mark.parametrize(
    "plaintext", ["", "a", "0123456789abcdef" * 8, "héllo wörld", "👩‍👩‍👧 🇳🇱 e\u0301", "x" * 10_000]
)
def test_round_trip(vault: AesGcmVault, plaintext: str) -> None:
    sealed = vault.encrypt(plaintext, CTX)
    assert sealed.isascii()
    assert vault.decrypt(sealed, CTX) == plaintext


def test_format_carries_version_and_key_id(vault: AesGcmVault) -> None:
    parts = vault.encrypt("secret", CTX).split(".")
    assert len(parts) == 4
    assert parts[:2] == ["v1", "k1"]


def test_a_different_context_fails(vault: AesGcmVault) -> None:
    sealed = vault.encrypt("token-value", CTX)
    with pytest.raises(VaultError) as info:
        vault.decrypt(sealed, "agent:9999:whatsapp:auth_token")
    assert "token-value" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


def test_a_context_that_only_shares_a_prefix_fails(vault: AesGcmVault) -> None:
    sealed = vault.encrypt("token-value", CTX)
    with pytest.raises(VaultError):
        vault.decrypt(sealed, CTX + "x")
    with pytest.raises(VaultError):
        vault.decrypt(sealed, CTX[:-1])


def test_every_tampered_character_fails(vault: AesGcmVault) -> None:
    sealed = vault.encrypt("token-value", CTX)
    header = len("v1.k1.")
    for index in range(header, len(sealed)):
        if sealed[index] == ".":
            continue
        tampered = _flip(sealed, index)
        try:
            opened = vault.decrypt(tampered, CTX)
        except VaultError as exc:
            assert "token-value" not in str(exc)
            assert exc.__context__ is None
        else:  # only a change in the unused low bits of the last base64 character may pass
            assert index in (len(sealed) - 1, sealed.rindex(".") - 1)
            assert opened == "token-value"


def test_a_tampered_byte_fails(vault: AesGcmVault) -> None:
    sealed = vault.encrypt("token-value", CTX)
    version, kid, wrapped, body = sealed.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[15] ^= 0x01
    with pytest.raises(VaultError):
        vault.decrypt(".".join((version, kid, wrapped, _b64(bytes(raw)))), CTX)


def test_swapping_the_wrapped_key_between_secrets_fails(vault: AesGcmVault) -> None:
    first = vault.encrypt("first", CTX).split(".")
    second = vault.encrypt("second", CTX).split(".")
    with pytest.raises(VaultError):
        vault.decrypt(".".join((*first[:3], second[3])), CTX)


@pytest.mark.parametrize(
    "ciphertext",
    [
        "",
        "garbage",
        "v1.k1.abc",
        "v1.k1.a.b.c",
        "v2.k1.AAAA.AAAA",
        "v1.bad kid.AAAA.AAAA",
        "v1.k1.!!!!.AAAA",
        "v1.k1.AAAA.AAAA",
    ],
)
def test_malformed_ciphertext_raises_vault_error(vault: AesGcmVault, ciphertext: str) -> None:
    with pytest.raises(VaultError):
        vault.decrypt(ciphertext, CTX)
    assert vault.is_current(ciphertext) is False


def test_unknown_key_id_names_the_kid(vault: AesGcmVault) -> None:
    other = AesGcmVault(KeyRing.generate("elsewhere"))
    with pytest.raises(VaultError, match="elsewhere"):
        vault.decrypt(other.encrypt("s", CTX), CTX)


def test_same_key_id_but_another_key_fails(vault: AesGcmVault) -> None:
    impostor = AesGcmVault(KeyRing.generate("k1"))
    with pytest.raises(VaultError):
        vault.decrypt(impostor.encrypt("s", CTX), CTX)


def test_ciphertext_does_not_contain_the_plaintext(vault: AesGcmVault) -> None:
    plaintext = "SuperSecretAuthToken0123456789"
    sealed = vault.encrypt(plaintext, CTX)
    assert plaintext not in sealed
    assert _b64(plaintext.encode()) not in sealed
    assert CTX not in sealed


def test_two_encryptions_of_the_same_plaintext_differ(vault: AesGcmVault) -> None:
    first, second = vault.encrypt("same", CTX), vault.encrypt("same", CTX)
    assert first != second
    assert first.split(".")[2] != second.split(".")[2]
    assert first.split(".")[3] != second.split(".")[3]


def test_unencodable_plaintext_raises_vault_error_without_the_text(vault: AesGcmVault) -> None:
    with pytest.raises(VaultError) as info:
        vault.encrypt("hunter2\ud800", CTX)
    assert "hunter2" not in str(info.value)
    assert info.value.__context__ is None


def test_rotation(ring: KeyRing) -> None:
    old_vault = AesGcmVault(ring)
    sealed_old = old_vault.encrypt("token-value", CTX)
    assert old_vault.is_current(sealed_old)

    rotated = ring.with_new_key("k2")
    assert rotated.newest_id == "k2"
    assert ring.newest_id == "k1"  # the original ring is unchanged
    new_vault = AesGcmVault(rotated)

    assert new_vault.decrypt(sealed_old, CTX) == "token-value"
    assert new_vault.is_current(sealed_old) is False

    rewrapped = new_vault.rewrap(sealed_old, CTX)
    assert new_vault.is_current(rewrapped)
    assert rewrapped.split(".")[1] == "k2"
    assert new_vault.decrypt(rewrapped, CTX) == "token-value"
    assert new_vault.encrypt("fresh", CTX).split(".")[1] == "k2"

    with pytest.raises(VaultError, match="k2"):
        old_vault.decrypt(rewrapped, CTX)


def test_rewrap_checks_the_context(ring: KeyRing) -> None:
    sealed = AesGcmVault(ring).encrypt("token-value", CTX)
    with pytest.raises(VaultError):
        AesGcmVault(ring.with_new_key("k2")).rewrap(sealed, "agent:other:whatsapp:auth_token")


def test_keyring_serialize_and_parse_round_trip(ring: KeyRing) -> None:
    rotated = ring.with_new_key("k2").with_new_key("k_3-x")
    parsed = KeyRing.parse(rotated.serialize())
    assert parsed.ids == ("k1", "k2", "k_3-x")
    assert parsed.newest_id == "k_3-x"
    assert parsed.serialize() == rotated.serialize()
    sealed = AesGcmVault(ring).encrypt("s", CTX)
    assert AesGcmVault(parsed).decrypt(sealed, CTX) == "s"


def test_parse_accepts_padding_and_whitespace() -> None:
    key = bytes(range(32))
    padded = base64.urlsafe_b64encode(key).decode()
    assert padded.endswith("=")
    parsed = KeyRing.parse(f" a:{_b64(key)} , b:{padded}\n")
    assert parsed.ids == ("a", "b")
    assert parsed.key("a") == parsed.key("b") == key


def test_parse_the_last_entry_is_newest() -> None:
    old, new = _b64(bytes([1]) * 32), _b64(bytes([2]) * 32)
    text = f"old:{old},new:{new}"
    assert KeyRing.parse(text).newest_id == "new"


SECRET_32 = bytes(range(100, 132))
SECRET_TEXT = _b64(SECRET_32)
# 32 bytes whose standard base64 has both "+" and "/" (what `openssl rand -base64 32` prints)
STANDARD_32 = bytes(range(0xE0, 0x100))
STANDARD_TEXT = base64.b64encode(STANDARD_32).decode()


@pytest.mark.parametrize(
    "encoded",
    [
        STANDARD_TEXT,  # standard, padded: openssl rand -base64 32
        STANDARD_TEXT.rstrip("="),  # standard, unpadded
        base64.urlsafe_b64encode(STANDARD_32).decode(),  # URL-safe, padded
        _b64(STANDARD_32),  # URL-safe, unpadded (what serialize() writes)
    ],
)
def test_parse_accepts_standard_and_url_safe_base64(encoded: str) -> None:
    assert "+" in STANDARD_TEXT and "/" in STANDARD_TEXT
    ring = KeyRing.parse(f"k1:{encoded}")
    assert ring.key("k1") == STANDARD_32
    assert KeyRing.parse(ring.serialize()).key("k1") == STANDARD_32


def test_a_standard_and_a_url_safe_key_in_one_ring() -> None:
    old = base64.b64encode(STANDARD_32).decode()
    new = _b64(SECRET_32)
    ring = KeyRing.parse(f"old:{old}, new:{new}")
    assert ring.ids == ("old", "new")
    assert (ring.key("old"), ring.key("new")) == (STANDARD_32, SECRET_32)


def test_a_standard_key_opens_what_its_url_safe_form_sealed() -> None:
    sealed = AesGcmVault(KeyRing.parse(f"k1:{_b64(STANDARD_32)}")).encrypt("token-value", CTX)
    assert AesGcmVault(KeyRing.parse(f"k1:{STANDARD_TEXT}")).decrypt(sealed, CTX) == "token-value"


def test_parse_accepts_random_openssl_style_keys() -> None:
    for _ in range(50):  # most of them hold "+" or "/"
        key = os.urandom(32)
        assert KeyRing.parse("k1:" + base64.b64encode(key).decode() + "\n").key("k1") == key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (",", "empty"),
        (f"k1:{SECRET_TEXT},", "entry 2"),
        (SECRET_TEXT, "entry 1"),
        (f":{SECRET_TEXT}", "entry 1"),
        (f"bad kid:{SECRET_TEXT}", "entry 1"),
        (f"{'k' * 33}:{SECRET_TEXT}", "entry 1"),
        (f"k1:{SECRET_TEXT[:-1]}*", "not valid base64"),
        (f"k1:{SECRET_TEXT[:10]}+_{SECRET_TEXT[12:]}", "not valid base64"),  # two alphabets
        (f"k1:{SECRET_TEXT}===", "not valid base64"),
        (f"k1:{SECRET_TEXT}==", "not valid base64"),  # 43 characters take one "=", not two
        (f"k1:{SECRET_TEXT[:20]}={SECRET_TEXT[20:]}", "not valid base64"),
        (f"k1:{SECRET_TEXT[:20]} {SECRET_TEXT[20:]}", "not valid base64"),
        (f"k1:{SECRET_TEXT[:-1]}é", "not valid base64"),
        (f"k1:{SECRET_TEXT}A", "32 bytes"),
        (f"k1:{STANDARD_TEXT[:-4]}", "32 bytes"),
        (f"k1:{base64.b64encode(SECRET_32 + b'xy').decode()}", "32 bytes"),
        (f"k1:{base64.b64encode(SECRET_32[:31]).decode()}", "32 bytes"),
        (f"k1:{STANDARD_TEXT}-", "not valid base64"),
        (f"k1:{SECRET_TEXT[:-3]}", "32 bytes"),
        (f"k1:{_b64(SECRET_32 + b'x')}", "32 bytes"),
        ("k1:", "32 bytes"),
        (f"k1:{SECRET_TEXT},k1:{_b64(SECRET_32[::-1])}", "duplicate"),
    ],
)
def test_parse_errors_never_show_key_material(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as info:
        KeyRing.parse(text)
    shown = repr(info.value) + repr(info.value.__context__) + repr(info.value.__cause__)
    assert "VAULT_KEYS" in str(info.value)
    for secret in (SECRET_TEXT, STANDARD_TEXT):
        for fragment in (secret[:8], secret[-8:], secret[20:28]):
            assert fragment not in shown
    for fragment in (SECRET_32.hex()[:16], STANDARD_32.hex()[:16], "\\x"):
        assert fragment not in shown


def test_keyring_rejects_bad_constructor_input() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing([("k1", b"short")])
    with pytest.raises(ValueError, match="key id"):
        KeyRing.generate("no spaces")
    with pytest.raises(ValueError, match="duplicate"):
        KeyRing.generate("k1").with_new_key("k1")
    with pytest.raises(ValueError, match="empty"):
        KeyRing([])


def test_repr_has_no_key_material(ring: KeyRing) -> None:
    rotated = ring.with_new_key("k2")
    vault = AesGcmVault(rotated)
    for shown in (repr(rotated), str(rotated), repr(vault), str(vault)):
        assert "k1" in shown and "k2" in shown
        for text in _key_texts(rotated):
            assert text not in shown


def test_dev_keyring_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    first = load_or_create_dev_keyring(data_dir)
    path = data_dir / "vault.keys"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == ["vault.keys"]  # no temp file left

    sealed = AesGcmVault(first).encrypt("token-value", CTX)
    second = load_or_create_dev_keyring(data_dir)
    assert second.serialize() == first.serialize()
    assert AesGcmVault(second).decrypt(sealed, CTX) == "token-value"


def test_dev_keyring_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_dev_keyring(tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "vault.keys").stat().st_mode) == 0o600


def test_dev_keyring_folder_is_created_private_even_with_a_permissive_umask(
    tmp_path: Path,
) -> None:
    previous = os.umask(0)
    try:
        load_or_create_dev_keyring(tmp_path / "data")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "vault.keys").stat().st_mode) == 0o600


def test_dev_keyring_leaves_an_existing_folder_as_it_is(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    load_or_create_dev_keyring(tmp_path)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "vault.keys").stat().st_mode) == 0o600


def test_dev_keyring_reads_an_existing_file(tmp_path: Path) -> None:
    ring = KeyRing.generate("a").with_new_key("b")
    (tmp_path / "vault.keys").write_text(ring.serialize() + "\n")
    loaded = load_or_create_dev_keyring(tmp_path)
    assert loaded.ids == ("a", "b")
    assert loaded.serialize() == ring.serialize()


def test_dev_keyring_broken_file_names_the_path_not_the_key(tmp_path: Path) -> None:
    (tmp_path / "vault.keys").write_text(f"k1:{SECRET_TEXT[:-3]}")
    with pytest.raises(ValueError, match=r"vault\.keys") as info:
        load_or_create_dev_keyring(tmp_path)
    assert SECRET_TEXT[:8] not in str(info.value)


def test_the_configured_vault_memoises_openings_and_forgets_them_with_its_keyring() -> None:
    from config.vault import ConfiguredVault

    first, second = KeyRing.generate("k1"), KeyRing.generate("k2")
    configured = ConfiguredVault(first)
    sealed = configured.encrypt("token", "channel:a")
    assert configured.decrypt(sealed, "channel:a") == "token"
    assert configured.decrypt(sealed, "channel:a") == "token"  # from the memo
    with pytest.raises(VaultError):  # the context is part of what is remembered
        configured.decrypt(sealed, "channel:b")

    configured.install(second)  # k1 is gone: what it sealed opens no more
    with pytest.raises(VaultError):
        configured.decrypt(sealed, "channel:a")
