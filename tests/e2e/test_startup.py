"""Start-up as an operator sees it: `python -m app` refuses a bad setting with one line and
exit status 2, accepts `openssl rand -base64 32` keys, and keeps the SQLite files private."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from tortoise import connections

from adapters.persistence.tortoise.database import apply_migrations, close_database, open_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Every variable the gateway reads; "" means unset and keeps a `.env` from supplying it.
VARIABLES = (
    "DATA_DIR",
    "DATABASE_URL",
    "PUBLIC_BASE_URL",
    "TRUSTED_PROXIES",
    "TWILIO_API_BASE_URL",
    "VAULT_KEYS",
    "HISTORY_WINDOW",
    "WORKER_CONCURRENCY",
    "EXECUTOR_TIMEOUT_S",
    "SEND_MAX_ATTEMPTS",
    "SEND_BASE_DELAY_S",
    "SHUTDOWN_DEADLINE_S",
    "RECOVERY_INTERVAL_S",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "SECRET_KEY",
)
KEY = bytes(range(0xE0, 0x100))
STANDARD_KEY = base64.b64encode(KEY).decode()  # has "+" and "/", like openssl's


def openssl_style_key() -> str:
    """`openssl rand -base64 32`: standard base64, padded, with "+" or "/" in it."""
    while True:
        text = base64.b64encode(os.urandom(32)).decode()
        if "+" in text or "/" in text:
            return text


def run_app(
    tmp_path: Path, args: list[str], env: Mapping[str, str], umask: int = -1
) -> subprocess.CompletedProcess[str]:
    """`python -m app ARGS` in `tmp_path` with only `env` of the gateway's variables set."""
    values = {**os.environ, **dict.fromkeys(VARIABLES, ""), "PYTHONPATH": str(ROOT)}
    values.update({"DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING", **env})
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=tmp_path,
        env=values,
        capture_output=True,
        text=True,
        timeout=120,
        umask=umask,
    )


def assert_refused(result: subprocess.CompletedProcess[str], name: str) -> str:
    """Exit status 2 and exactly one stderr line, naming the variable; no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: ")
    assert name in lines[0]
    assert result.stdout == ""
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["migrate"]])
@pytest.mark.parametrize(
    "keys",
    [
        "k1:" + base64.b64encode(KEY[:31]).decode(),  # 31 bytes
        "k1:" + base64.b64encode(KEY + b"x").decode(),  # 33 bytes
        "k1:" + STANDARD_KEY[:-2] + "!=",  # garbage
        STANDARD_KEY,  # no key id
        f"k1:{STANDARD_KEY},k1:{STANDARD_KEY}",
    ],
    ids=["short", "long", "garbage", "no-kid", "duplicate"],
)
def test_bad_vault_keys_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], keys: str
) -> None:
    line = assert_refused(
        run_app(tmp_path, command, {"APP_ENV": "prod", "VAULT_KEYS": keys}), "VAULT_KEYS"
    )
    for fragment in (STANDARD_KEY[:8], STANDARD_KEY[10:18], STANDARD_KEY[-10:-2]):
        assert fragment not in line
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_prod_without_vault_keys_is_one_line_and_exit_2(tmp_path: Path) -> None:
    assert_refused(run_app(tmp_path, ["migrate"], {"APP_ENV": "prod"}), "VAULT_KEYS")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HISTORY_WINDOW", "fifty"),
        ("WORKER_CONCURRENCY", "0"),
        ("SEND_MAX_ATTEMPTS", "-3"),
        ("EXECUTOR_TIMEOUT_S", "nan"),
        ("SEND_BASE_DELAY_S", "-0.5"),
        ("SHUTDOWN_DEADLINE_S", "10s"),
        ("RECOVERY_INTERVAL_S", "0"),
        ("DATABASE_URL", "postgres://gw:hunter2@db:port/gw"),
        ("DATABASE_URL", "mysql://db/gw"),
        ("PUBLIC_BASE_URL", "gw.example.com"),
        ("TWILIO_API_BASE_URL", "https://"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,load-balancer"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_any_bad_setting_is_one_line_and_exit_2(tmp_path: Path, name: str, value: str) -> None:
    env = {"APP_ENV": "prod", "VAULT_KEYS": f"k1:{openssl_style_key()}", name: value}
    line = assert_refused(run_app(tmp_path, ["serve", "--port", "0"], env), name)
    assert "hunter2" not in line


@pytest.mark.parametrize("value", ["staging", ""])
def test_bad_app_env_is_one_line_and_exit_2(tmp_path: Path, value: str) -> None:
    assert_refused(run_app(tmp_path, ["migrate"], {"APP_ENV": value}), "APP_ENV")


def test_prod_starts_with_an_openssl_rand_base64_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keys = f"old:{openssl_style_key()},k2:{openssl_style_key().rstrip('=')}"
    env = {"APP_ENV": "prod", "VAULT_KEYS": keys, "DATABASE_URL": f"sqlite://{data / 'gw.db'}"}
    result = run_app(tmp_path, ["migrate"], env, umask=0)  # umask 0: the modes are ours
    assert result.returncode == 0, result.stderr
    assert "applied" in result.stdout
    assert mode(data) == 0o700
    assert mode(data / "gw.db") == 0o600
    others = [p.name for p in data.iterdir() if mode(p) & 0o077]
    assert others == []  # the lock file and any -wal/-shm left behind too

    again = run_app(tmp_path, ["migrate"], env, umask=0)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout


def test_dev_keyring_and_database_are_private(tmp_path: Path) -> None:
    # `vault rotate` opens the database and loads the generated dev keyring.
    result = run_app(tmp_path, ["vault", "rotate"], {"APP_ENV": "dev"}, umask=0)
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    assert mode(data) == 0o700
    assert mode(data / "vault.keys") == 0o600
    assert mode(data / "app.sqlite3") == 0o600


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
async def test_sqlite_wal_and_shm_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite://{data / 'app.sqlite3'}"
    await apply_migrations(url)
    await open_database(url)
    try:
        await connections.get("default").execute_script(
            "CREATE TABLE probe (x INTEGER); INSERT INTO probe VALUES (1);"
        )
        files = {p.name: mode(p) for p in data.iterdir()}
    finally:
        await close_database()
    assert {"app.sqlite3", "app.sqlite3-wal", "app.sqlite3-shm"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)
    assert mode(data) == 0o700


@pytest.mark.usefixtures("open_umask")
async def test_files_an_older_version_left_readable_are_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite://{data / 'app.sqlite3'}"
    await apply_migrations(url)
    data.chmod(0o755)
    names = ("app.sqlite3", "app.sqlite3-wal", "app.sqlite3-shm")
    for name in names:
        (data / name).touch()
        (data / name).chmod(0o644)
    await open_database(url)
    try:
        await connections.get("default").execute_query("SELECT count(*) FROM aerich")
        modes = {name: mode(data / name) for name in names}
    finally:
        await close_database()  # SQLite then removes -wal and -shm
    assert modes == dict.fromkeys(modes, 0o600)
    assert mode(data) == 0o755  # an existing folder is the operator's: left as it is
