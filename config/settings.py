"""Settings from the environment (a `.env` file may supply them), validated once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENVIRONMENTS = ("dev", "test", "prod")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it, never a secret's value."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        raise SettingsError(f"{name} must be a number") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None


@dataclass(frozen=True)
class Settings:
    app_env: str = "dev"
    data_dir: Path = Path("./data")
    database_url: str = ""
    public_base_url: str | None = None
    trusted_proxies: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    vault_keys: str | None = field(default=None, repr=False)
    history_window: int = 50
    worker_concurrency: int = 32
    executor_timeout_s: float = 30.0
    send_max_attempts: int = 5
    send_base_delay_s: float = 0.5
    shutdown_deadline_s: float = 10.0
    recovery_interval_s: float = 15.0
    migrate_on_start: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        app_env = env.get("APP_ENV", "dev")
        if app_env not in ENVIRONMENTS:
            raise SettingsError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
        data_dir = Path(env.get("DATA_DIR", "./data"))
        database_url = env.get("DATABASE_URL") or f"sqlite://{data_dir / 'app.sqlite3'}"
        if not database_url.startswith(("sqlite://", "postgres://", "postgresql://")):
            raise SettingsError("DATABASE_URL must start with sqlite:// or postgres://")
        vault_keys = env.get("VAULT_KEYS") or None
        if app_env == "prod" and not vault_keys:
            raise SettingsError("VAULT_KEYS is required when APP_ENV=prod")
        public = (env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None
        if public and not public.startswith(("http://", "https://")):
            raise SettingsError("PUBLIC_BASE_URL must start with http:// or https://")
        return cls(
            app_env=app_env,
            data_dir=data_dir,
            database_url=database_url,
            public_base_url=public,
            trusted_proxies=env.get("TRUSTED_PROXIES", ""),
            twilio_api_base_url=(env.get("TWILIO_API_BASE_URL") or "https://api.twilio.com").rstrip(
                "/"
            ),
            vault_keys=vault_keys,
            history_window=_int(env, "HISTORY_WINDOW", 50),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 32),
            executor_timeout_s=_float(env, "EXECUTOR_TIMEOUT_S", 30.0),
            send_max_attempts=_int(env, "SEND_MAX_ATTEMPTS", 5),
            send_base_delay_s=_float(env, "SEND_BASE_DELAY_S", 0.5),
            shutdown_deadline_s=_float(env, "SHUTDOWN_DEADLINE_S", 10.0),
            recovery_interval_s=_float(env, "RECOVERY_INTERVAL_S", 15.0),
        )
