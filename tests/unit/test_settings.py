"""Settings.from_env: every malformed setting is a one-line SettingsError that names it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from adapters.channels.whatsapp.plugin import window_s
from adapters.vault.aesgcm import KeyRing
from config.settings import Settings, SettingsError, event_loop, log_level, parse_vault_keys
from config.vault import make_keyring

KEY = bytes(range(0xE0, 0x100))
STANDARD = base64.b64encode(KEY).decode()  # "4OHi4+Tl...+/z9/v8=": has "+" and "/"
URL_SAFE = base64.urlsafe_b64encode(KEY).decode().rstrip("=")


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"APP_ENV": "test", "DATA_DIR": str(tmp_path), **env})


def refused(tmp_path: Path, name: str, **env: str) -> str:
    """The message of the SettingsError these settings raise; it names `name`, on one line."""
    with pytest.raises(SettingsError) as info:
        settings(tmp_path, **env)
    message = str(info.value)
    assert name in message
    assert "\n" not in message
    # nothing chained that a traceback would show (the key, the URL with its password)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None
    return message


def test_defaults(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.database_url == f"sqlite://{tmp_path / 'app.sqlite3'}"
    assert (s.history_window, s.worker_concurrency, s.send_max_attempts) == (50, 1000, 5)
    assert s.twilio_api_base_url == "https://api.twilio.com"
    assert s.public_base_url is None and s.vault_keys is None


def test_empty_values_mean_unset(tmp_path: Path) -> None:
    empty = ("HISTORY_WINDOW", "RECOVERY_INTERVAL_S", "PUBLIC_BASE_URL", "DATABASE_URL")
    assert settings(tmp_path, **dict.fromkeys(empty, "")) == settings(tmp_path)


# VAULT_KEYS


@pytest.mark.parametrize(
    "encoded", [STANDARD, STANDARD.rstrip("="), URL_SAFE, URL_SAFE + "="], ids=str
)
def test_vault_keys_in_standard_or_url_safe_base64(tmp_path: Path, encoded: str) -> None:
    s = settings(tmp_path, APP_ENV="prod", VAULT_KEYS=f"k1:{encoded}")
    ring = make_keyring(s)
    assert ring is not None and ring.key("k1") == KEY
    assert parse_vault_keys(f"k1:{encoded}").key("k1") == KEY


def test_an_openssl_rand_base64_key_is_accepted(tmp_path: Path) -> None:
    while "+" not in (text := base64.b64encode(os.urandom(32)).decode()) and "/" not in text:
        pass
    assert settings(tmp_path, APP_ENV="prod", VAULT_KEYS=f"k1:{text}\n").vault_keys


@pytest.mark.parametrize(
    "keys",
    [
        "k1:" + base64.b64encode(KEY[:31]).decode(),  # 31 bytes
        "k1:" + base64.b64encode(KEY + b"!").decode(),  # 33 bytes
        "k1:" + STANDARD[:-1] + "==",  # padding that does not fit
        "k1:" + STANDARD[:-1] + "*",  # garbage
        "k1:" + STANDARD.replace("+", "-", 1),  # both alphabets in one key
        STANDARD,  # no key id
        "k1:",
        " , ",
        f"k1:{STANDARD},k1:{URL_SAFE}",
    ],
)
def test_bad_vault_keys_name_the_variable_not_the_key(tmp_path: Path, keys: str) -> None:
    for app_env in ("prod", "dev"):
        message = refused(tmp_path, "VAULT_KEYS", APP_ENV=app_env, VAULT_KEYS=keys)
        for fragment in (STANDARD[:8], STANDARD[8:16], STANDARD[-9:-1], URL_SAFE[-8:]):
            assert fragment not in message
        assert KEY.hex()[:8] not in message
    with pytest.raises(SettingsError, match="VAULT_KEYS"):
        parse_vault_keys(keys)


def test_prod_requires_vault_keys(tmp_path: Path) -> None:
    assert "required" in refused(tmp_path, "VAULT_KEYS", APP_ENV="prod")
    assert "required" in refused(tmp_path, "VAULT_KEYS", APP_ENV="prod", VAULT_KEYS="")


def test_make_keyring_raises_settings_errors(tmp_path: Path) -> None:
    prod = Settings(app_env="prod", data_dir=tmp_path, database_url="sqlite://x")
    with pytest.raises(SettingsError, match="VAULT_KEYS"):
        make_keyring(prod)
    (tmp_path / "vault.keys").write_text(f"dev1:{STANDARD[:-6]}")
    with pytest.raises(SettingsError, match=r"vault\.keys") as info:
        make_keyring(settings(tmp_path))
    assert STANDARD[:8] not in str(info.value)


def test_the_dev_keyring_is_generated_when_vault_keys_is_unset(tmp_path: Path) -> None:
    ring = make_keyring(settings(tmp_path))
    assert isinstance(ring, KeyRing) and ring.ids == ("dev1",)
    assert (tmp_path / "vault.keys").is_file()


# Numbers

INTEGERS = {"HISTORY_WINDOW": 0, "WORKER_CONCURRENCY": 1, "SEND_MAX_ATTEMPTS": 1}
FLOATS = {  # name: whether 0 makes sense
    "EXECUTOR_TIMEOUT_S": False,
    "SEND_BASE_DELAY_S": True,
    "SHUTDOWN_DEADLINE_S": True,
    "RECOVERY_INTERVAL_S": False,
}


@pytest.mark.parametrize("name", [*INTEGERS, *FLOATS])
@pytest.mark.parametrize("value", ["abc", "1,5", "-1", "-0.5", "nan", "inf", "-inf", "1e999", " "])
def test_malformed_numbers(tmp_path: Path, name: str, value: str) -> None:
    refused(tmp_path, name, **{name: value})
    refused(tmp_path, name, APP_ENV="prod", VAULT_KEYS=f"k1:{STANDARD}", **{name: value})


@pytest.mark.parametrize("name", list(INTEGERS))
def test_whole_numbers_only(tmp_path: Path, name: str) -> None:
    assert "whole number" in refused(tmp_path, name, **{name: "2.5"})


@pytest.mark.parametrize(("name", "minimum"), INTEGERS.items())
def test_integer_minimum(tmp_path: Path, name: str, minimum: int) -> None:
    assert getattr(settings(tmp_path, **{name: str(minimum)}), name.lower()) == minimum
    refused(tmp_path, name, **{name: str(minimum - 1)})


@pytest.mark.parametrize("value", ["abc", "1,5", "-1", "-0.5", "nan", "inf", "-inf", "1e999", " "])
def test_a_plugins_own_setting_is_checked_at_start_too(tmp_path: Path, value: str) -> None:
    # WHATSAPP_WINDOW_S belongs to the whatsapp plugin, which checks it (config/channels.py).
    name = "WHATSAPP_WINDOW_S"
    refused(tmp_path, name, **{name: value})
    assert "whole number" in refused(tmp_path, name, **{name: "2.5"})
    refused(tmp_path, name, **{name: "0"})
    assert window_s(settings(tmp_path, **{name: "1"}).environ) == 1  # what the plugin uses


@pytest.mark.parametrize(("name", "zero_allowed"), FLOATS.items())
def test_zero_only_where_it_makes_sense(tmp_path: Path, name: str, zero_allowed: bool) -> None:
    assert getattr(settings(tmp_path, **{name: "0.25"}), name.lower()) == 0.25
    if zero_allowed:
        assert getattr(settings(tmp_path, **{name: "0"}), name.lower()) == 0
    else:
        refused(tmp_path, name, **{name: "0"})


# APP_ENV, DATA_DIR, URLs, proxies, LOG_LEVEL


@pytest.mark.parametrize("value", ["", "production", "PROD", " prod"])
def test_app_env(tmp_path: Path, value: str) -> None:
    refused(tmp_path, "APP_ENV", APP_ENV=value)


def test_data_dir_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    refused(tmp_path, "DATA_DIR", DATA_DIR=str(tmp_path / "file"))


@pytest.mark.parametrize(
    "url",
    [
        "mysql://db/x",
        "sqlite:",
        "sqlite://",
        "sqlite://:memory:",
        "postgres://user:hunter2@db:notaport/x",
        "postgres://user:hunter2@db:70000/x",
        "postgresql://user:hunter2@[::1/x",
    ],
)
def test_bad_database_url(tmp_path: Path, url: str) -> None:
    assert "hunter2" not in refused(tmp_path, "DATABASE_URL", DATABASE_URL=url)


@pytest.mark.parametrize(
    "url", ["sqlite:///var/lib/gw/app.sqlite3", "postgres://u:p@db:5432/x", "postgresql:///x"]
)
def test_good_database_url(tmp_path: Path, url: str) -> None:
    assert settings(tmp_path, DATABASE_URL=url).database_url == url


@pytest.mark.parametrize("name", ["PUBLIC_BASE_URL", "TWILIO_API_BASE_URL"])
@pytest.mark.parametrize(
    "url",
    [
        "gw.example.com",
        "ftp://gw.example.com",
        "https://",
        "https:///path",
        "https://gw.example.com:99999",
        "https://gw.example.com:port",
        "https://gw.example.com/?x=1",
        "https://gw.example.com/#top",
        "https://gw example.com",
        "HTTPS://gw.example.com",
    ],
)
def test_bad_base_urls(tmp_path: Path, name: str, url: str) -> None:
    refused(tmp_path, name, **{name: url})


def test_good_base_urls(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        PUBLIC_BASE_URL="https://gw.example.com/hooks/",
        TWILIO_API_BASE_URL="http://127.0.0.1:8123/sandbox/twilio",
    )
    assert s.public_base_url == "https://gw.example.com/hooks"
    assert s.twilio_api_base_url == "http://127.0.0.1:8123/sandbox/twilio"


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        ("proxy.internal", "entry 1"),
        ("10.0.0.0/8, 10.0.0.0/33", "entry 2"),
        ("10.0.0.0/8,192.168.1.300", "entry 2"),
        ("10.0.0.0/8; 10.1.0.0/16", "entry 1"),
        ("::1/129", "entry 1"),
    ],
)
def test_bad_trusted_proxies(tmp_path: Path, value: str, entry: str) -> None:
    assert entry in refused(tmp_path, "TRUSTED_PROXIES", TRUSTED_PROXIES=value)


def test_good_trusted_proxies(tmp_path: Path) -> None:
    value = "10.0.0.0/8, 192.168.1.1,, ::1, 2001:db8::/32, 10.1.2.3/8"
    assert settings(tmp_path, TRUSTED_PROXIES=value).trusted_proxies == value


def test_log_level() -> None:
    assert log_level({}) == "INFO"
    assert log_level({"LOG_LEVEL": "debug"}) == "DEBUG"
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        log_level({"LOG_LEVEL": "loud"})


def test_event_loop() -> None:
    assert event_loop({}) == "uvloop"
    assert event_loop({"EVENT_LOOP": " AsyncIO "}) == "asyncio"
    with pytest.raises(SettingsError, match="EVENT_LOOP"):
        event_loop({"EVENT_LOOP": "trio"})


def test_the_service_runs_on_the_chosen_event_loop() -> None:
    import asyncio

    import uvloop

    from app import run_service

    seen: list[type] = []

    async def record() -> None:
        seen.append(type(asyncio.get_running_loop()))

    run_service(record(), "uvloop")
    run_service(record(), "asyncio")
    assert seen[0] is uvloop.Loop
    assert not issubclass(seen[1], uvloop.Loop)


def test_repr_shows_neither_keys_nor_the_database_password(tmp_path: Path) -> None:
    s = settings(
        tmp_path, VAULT_KEYS=f"k1:{STANDARD}", DATABASE_URL="postgres://u:hunter2@db:5432/x"
    )
    assert STANDARD not in repr(s) and "hunter2" not in repr(s)
