"""The sandbox routes (/sandbox/...: provider doubles without authentication) exist only where
the run command turns them on: `SANDBOX=true`, which `./scripts/run` sets. Never in prod, not
in a plain `python -m app serve`, whatever APP_ENV. The README's production steps set prod."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app import create_app
from config.container import build_container
from config.settings import Settings, SettingsError
from tests.e2e.conftest import GatewayFactory

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PATHS = ("/sandbox/twilio/messages", "/sandbox/telegram/messages")


def test_sandbox_is_off_unless_set_true_and_refused_in_prod(tmp_path: Path) -> None:
    base = {"DATA_DIR": str(tmp_path)}
    for app_env in ("dev", "test"):
        assert Settings.from_env({**base, "APP_ENV": app_env}).sandbox is False
        assert Settings.from_env({**base, "APP_ENV": app_env, "SANDBOX": ""}).sandbox is False
        assert Settings.from_env({**base, "APP_ENV": app_env, "SANDBOX": "true"}).sandbox
        assert Settings.from_env({**base, "APP_ENV": app_env, "SANDBOX": "TRUE"}).sandbox
        assert not Settings.from_env({**base, "APP_ENV": app_env, "SANDBOX": "false"}).sandbox
    assert Settings.from_env(base).sandbox is False  # APP_ENV unset is dev
    for junk in ("yes", "1", "on", "tru"):
        with pytest.raises(SettingsError, match="SANDBOX must be true or false"):
            Settings.from_env({**base, "SANDBOX": junk})
    prod = {**base, "APP_ENV": "prod", "VAULT_KEYS": "k1:" + "A" * 43 + "="}
    assert Settings.from_env(prod).sandbox is False
    assert Settings.from_env({**prod, "SANDBOX": "false"}).sandbox is False
    with pytest.raises(SettingsError, match=r"SANDBOX=true is refused when APP_ENV=prod"):
        Settings.from_env({**prod, "SANDBOX": "true"})


async def test_the_sandbox_routes_are_mounted_only_with_sandbox_true(
    open_gateway: GatewayFactory,
) -> None:
    for app_env in ("dev", "test"):
        async with open_gateway(APP_ENV=app_env) as gw:
            for path in SANDBOX_PATHS:
                assert (await gw.request("GET", path)).status_code == 404, (app_env, path)
        async with open_gateway(APP_ENV=app_env, SANDBOX="true") as gw:
            for path in SANDBOX_PATHS:
                assert (await gw.request("GET", path)).status_code == 200, (app_env, path)


async def test_prod_never_mounts_the_sandbox_even_with_settings_built_by_hand(
    tmp_path: Path,
) -> None:
    env = {"APP_ENV": "prod", "DATA_DIR": str(tmp_path), "VAULT_KEYS": "k1:" + "A" * 43 + "="}
    settings = dataclasses.replace(Settings.from_env(env), sandbox=True)
    app = create_app(build_container(settings))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for path in SANDBOX_PATHS:
            assert (await client.get(path)).status_code == 404, path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data")}
    env.pop("APP_ENV", None)  # unset: dev (set but empty is refused)
    for name in ("SANDBOX", "DATABASE_URL", "VAULT_KEYS", "SECRET_KEY"):
        env[name] = ""  # unset, and no `.env` may supply it
    env.update(values)
    return env


@pytest.mark.slow
def test_a_plain_serve_has_no_sandbox(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=_env(tmp_path, LOG_FORMAT="console"),  # APP_ENV unset: dev, the demo
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("serve did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.1)
        for path in SANDBOX_PATHS:
            assert httpx.get(base + path, timeout=5).status_code == 404, path
        assert "The local sandbox is off" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_serve_refuses_the_sandbox_in_prod_with_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path, APP_ENV="prod", VAULT_KEYS="k1:" + "A" * 43 + "=", SANDBOX="true")
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SANDBOX=true is refused when APP_ENV=prod" in lines[0], lines


def test_scripts_run_turns_the_sandbox_on(tmp_path: Path) -> None:
    """`./scripts/run` exactly as shipped, with `setup` and the interpreter stood in for."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run", tmp_path / "scripts" / "run")
    setup = tmp_path / "scripts" / "setup"
    setup.write_text("#!/usr/bin/env bash\nexit 0\n")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/usr/bin/env bash\necho "SANDBOX=${SANDBOX:-}"\necho "ARGS=$*"\n')
    for script in (setup, python, tmp_path / "scripts" / "run"):
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX"}
    result = subprocess.run(
        [str(tmp_path / "scripts" / "run")], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "SANDBOX=true" in result.stdout.splitlines()
    assert "ARGS=-m app serve --host 127.0.0.1 --port 8000" in result.stdout.splitlines()
    env["SANDBOX"] = "false"  # an explicit choice wins
    result = subprocess.run(
        [str(tmp_path / "scripts" / "run")], env=env, capture_output=True, text=True, timeout=30
    )
    assert "SANDBOX=false" in result.stdout.splitlines()


def test_the_readmes_production_steps_set_app_env_prod() -> None:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Production\n(.*?)(?=^## )", readme, re.S | re.M)
    assert section, "README.md has no '## Production' section"
    steps = "\n".join(re.findall(r"```sh\n(.*?)```", section.group(1), re.S))
    assert re.search(r"^export APP_ENV=prod$", steps, re.M), steps
    assert "SANDBOX=true" not in steps
    assert "python -m app serve" in steps
