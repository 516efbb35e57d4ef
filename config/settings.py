"""Settings from the environment (a `.env` file may supply them), validated once at start."""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from adapters.vault.aesgcm import KeyRing

ENVIRONMENTS = ("dev", "test", "prod")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PYTHON_MODULE_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line that names it, never a
    secret's value (`python -m app` prints it and exits with status 2)."""


def _text(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, None when unset or empty (`NAME=` in `.env` means "unset")."""
    return env.get(name) or None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = _text(env, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = _text(env, name)
    if text is None:
        return default
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise SettingsError(f"{name} must be true or false")
    return value == "true"


def _float(env: Mapping[str, str], name: str, default: float, zero_allowed: bool) -> float:
    text = _text(env, name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number")
    if value < 0 or (value == 0 and not zero_allowed):
        raise SettingsError(f"{name} must be {'at least' if zero_allowed else 'greater than'} 0")
    return value


def _http_url(name: str, text: str) -> str:
    """An http(s) base URL with a host, without a trailing slash; never echoed (it may carry
    credentials)."""
    url = text.rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not 0-65535
    except ValueError:
        raise SettingsError(f"{name} is not a valid URL") from None
    if not url.startswith(("http://", "https://")) or not parts.hostname:
        raise SettingsError(f"{name} must start with http:// or https:// and name a host")
    if parts.query or parts.fragment or any(c.isspace() or c in "?#" for c in url):
        raise SettingsError(f"{name} must not contain spaces, a query or a fragment")
    return url


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = _text(env, "DATABASE_URL") or f"sqlite://{data_dir / 'app.sqlite3'}"
    if url.startswith("sqlite://"):
        if url.removeprefix("sqlite://") in ("", ":memory:"):  # each connection its own DB
            raise SettingsError("DATABASE_URL must name a SQLite file: sqlite:///path/to/file")
        return url
    if not url.startswith(("postgres://", "postgresql://")):
        raise SettingsError("DATABASE_URL must start with sqlite:// or postgres://")
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError when the port is not 0-65535
    except ValueError:  # not echoed: the URL holds the password
        raise SettingsError("DATABASE_URL is not a valid PostgreSQL URL (host or port)") from None
    return url


def _trusted_proxies(text: str) -> str:
    for position, item in enumerate((part.strip() for part in text.split(",")), start=1):
        try:
            if item:
                ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(
                f"TRUSTED_PROXIES entry {position} ({item[:50]!r}) is not an IP address or CIDR"
            ) from None
    return text


def _python_allow(env: Mapping[str, str], app_env: str) -> tuple[str, ...] | None:
    """`PYTHON_EXECUTOR_ALLOW`: comma-separated module prefixes a `python` target may name.
    Unset: any target in dev and test, none in prod (the python kind is then refused)."""
    text = _text(env, "PYTHON_EXECUTOR_ALLOW")
    if text is None:
        return () if app_env == "prod" else None
    prefixes = []
    for position, item in enumerate((part.strip() for part in text.split(",")), start=1):
        prefix = item.rstrip(".")
        if not item:
            continue
        if not PYTHON_MODULE_PREFIX.match(prefix):
            raise SettingsError(
                f"PYTHON_EXECUTOR_ALLOW entry {position} ({item[:50]!r}) is not a dotted "
                "module prefix such as my_agents or my_agents.sales"
            )
        prefixes.append(prefix)
    return tuple(prefixes)


def parse_vault_keys(text: str) -> KeyRing:
    """`VAULT_KEYS` as a keyring; SettingsError naming VAULT_KEYS (and entry positions and key
    ids, never key material) when malformed."""
    try:
        return KeyRing.parse(text)
    except ValueError as exc:
        message = str(exc)
        if not message.startswith("VAULT_KEYS"):
            message = f"VAULT_KEYS: {message}"
        raise SettingsError(message) from None


EVENT_LOOPS = ("uvloop", "asyncio")


def event_loop(env: Mapping[str, str] | None = None) -> str:
    """`EVENT_LOOP` (default uvloop): the event loop of `serve` and `worker`. uvloop runs
    the loop's own work (sockets, timers, callbacks) in C, about 8 % of the CPU per message
    on PostgreSQL; `asyncio` keeps the standard library's, and is also used where uvloop is
    not installed (it is not on Windows)."""
    env = os.environ if env is None else env
    loop = (_text(env, "EVENT_LOOP") or "uvloop").strip().lower()
    if loop not in EVENT_LOOPS:
        raise SettingsError(f"EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}")
    return loop


def log_level(env: Mapping[str, str] | None = None) -> str:
    """`LOG_LEVEL` (default INFO), upper-cased."""
    env = os.environ if env is None else env
    level = (_text(env, "LOG_LEVEL") or "INFO").strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    return level


@dataclass(frozen=True)
class Settings:
    app_env: str = "dev"
    data_dir: Path = Path("./data")
    database_url: str = field(default="", repr=False)  # may hold a password
    public_base_url: str | None = None
    trusted_proxies: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    vault_keys: str | None = field(default=None, repr=False)
    history_window: int = 50
    worker_concurrency: int = 1000
    executor_timeout_s: float = 30.0
    send_max_attempts: int = 5
    send_base_delay_s: float = 0.5
    shutdown_deadline_s: float = 10.0
    recovery_interval_s: float = 15.0
    migrate_on_start: bool = True
    # The local provider doubles under /sandbox/ (no authentication): `./scripts/run` only.
    sandbox: bool = False
    # Refused credentials (admin API 401/403, failed UI sign-ins) allowed per client address
    # and window before it gets 429; 0 turns the limit off.
    auth_failure_limit: int = 10
    auth_failure_window_s: float = 60.0
    # Executors (docs/security.md, "Executors and tenants"): may agent URLs reach loopback,
    # private and link-local addresses and the gateway itself (default: not in prod)? Which
    # module prefixes may `python` targets name (None: any; prod default: none)?
    executor_allow_private: bool = True
    python_executor_allow: tuple[str, ...] | None = None
    # The new-lead webhook's first retry wait, doubled after each failed attempt.
    lead_webhook_retry_base_s: float = 10.0
    # The environment as read: each channel plugin reads its own variables from it.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every setting parsed and checked; raises SettingsError naming the first bad one."""
        env = os.environ if env is None else env
        app_env = env.get("APP_ENV", "dev")  # set but empty is an error, not silently dev
        if app_env not in ENVIRONMENTS:
            raise SettingsError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
        data_dir = Path(_text(env, "DATA_DIR") or "./data")
        if data_dir.exists() and not data_dir.is_dir():
            raise SettingsError("DATA_DIR must be a directory")
        vault_keys = _text(env, "VAULT_KEYS")
        if vault_keys is not None:
            parse_vault_keys(vault_keys)
        elif app_env == "prod":
            raise SettingsError("VAULT_KEYS is required when APP_ENV=prod")
        sandbox = _bool(env, "SANDBOX", False)
        if sandbox and app_env == "prod":
            raise SettingsError(
                "SANDBOX=true is refused when APP_ENV=prod: the sandbox routes have no "
                "authentication (unset SANDBOX or set it to false)"
            )
        public = _text(env, "PUBLIC_BASE_URL")
        twilio = _text(env, "TWILIO_API_BASE_URL") or "https://api.twilio.com"
        settings = cls(
            environ=dict(env),
            app_env=app_env,
            data_dir=data_dir,
            database_url=_database_url(env, data_dir),
            public_base_url=_http_url("PUBLIC_BASE_URL", public) if public else None,
            trusted_proxies=_trusted_proxies(env.get("TRUSTED_PROXIES", "")),
            twilio_api_base_url=_http_url("TWILIO_API_BASE_URL", twilio),
            vault_keys=vault_keys,
            history_window=_int(env, "HISTORY_WINDOW", 50, minimum=0),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 1000, minimum=1),
            executor_timeout_s=_float(env, "EXECUTOR_TIMEOUT_S", 30.0, zero_allowed=False),
            send_max_attempts=_int(env, "SEND_MAX_ATTEMPTS", 5, minimum=1),
            send_base_delay_s=_float(env, "SEND_BASE_DELAY_S", 0.5, zero_allowed=True),
            shutdown_deadline_s=_float(env, "SHUTDOWN_DEADLINE_S", 10.0, zero_allowed=True),
            recovery_interval_s=_float(env, "RECOVERY_INTERVAL_S", 15.0, zero_allowed=False),
            sandbox=sandbox,
            auth_failure_limit=_int(env, "AUTH_FAILURE_LIMIT", 10, minimum=0),
            auth_failure_window_s=_float(env, "AUTH_FAILURE_WINDOW_S", 60.0, zero_allowed=False),
            executor_allow_private=_bool(env, "EXECUTOR_ALLOW_PRIVATE", app_env != "prod"),
            python_executor_allow=_python_allow(env, app_env),
            lead_webhook_retry_base_s=_float(
                env, "LEAD_WEBHOOK_RETRY_BASE_S", 10.0, zero_allowed=False
            ),
        )
        from config.channels import settings_problem  # the plugins' own variables

        if (problem := settings_problem(env)) is not None:
            raise SettingsError(problem)
        return settings
