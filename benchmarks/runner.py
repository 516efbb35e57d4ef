"""Process orchestration: free ports, child processes with their own env, readiness, clean-up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """A child process died or never became ready; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def listener(backlog: int = 4096) -> socket.socket:
    """A listening TCP socket on a free loopback port, to hand to a child (`pass_fds`): unlike a
    port from `free_port`, nobody else on the machine can take it before the child serves."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The benchmark's environment with `overrides`; settings that would change what the
    service verifies or where it sends are blanked (a `.env` file never overrides them)."""
    env = dict(os.environ)
    env.update({"PUBLIC_BASE_URL": "", "TRUSTED_PROXIES": "", "VAULT_KEYS": ""})
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the benchmark dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):
        pass


class Child:
    """One child process; its stdout and stderr go to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.pass_fds = pass_fds  # listening sockets the child serves on
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches only the benchmark
                pass_fds=self.pass_fds,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        if self.running:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def reap(self, deadline: float) -> None:
        """Wait until `deadline` (monotonic) for the exit, then SIGKILL."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, why: str) -> ChildFailed:
        return ChildFailed(f"{self.name} {why}; last lines of {self.log_path}:\n{self.tail()}")


def stop_all(children: Iterable[Child], grace_s: float = 15.0) -> None:
    """SIGTERM to every child at once, then wait for each (SIGKILL after `grace_s`)."""
    children = [c for c in children if c.proc is not None]
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children:
        child.reap(deadline)


async def wait_healthy(
    http: aiohttp.ClientSession, child: Child, base_url: str, timeout_s: float = 60.0
) -> None:
    """Poll `/readyz` (database and job queue reachable; `/healthz` where there is no
    `/readyz`) until it answers 200; fail early when the child exits."""
    deadline = time.monotonic() + timeout_s
    path = "/readyz"
    while True:
        if not child.running:
            code = child.proc.returncode if child.proc else "?"
            raise child.failure(f"exited with status {code}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            url = base_url + path
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    return
                if response.status == 404:
                    path = "/healthz"
        if time.monotonic() > deadline:
            raise child.failure(f"was not ready on {base_url + path} within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


async def run_command(argv: list[str], env: dict[str, str], timeout_s: float = 60.0) -> str:
    """Run a command to completion; its stdout, or ChildFailed with its output."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ChildFailed(f"{' '.join(argv[1:])} took longer than {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        text = (out + err).decode(errors="replace")
        raise ChildFailed(f"{' '.join(argv[1:])} failed ({proc.returncode}):\n{text[-3000:]}")
    return out.decode()


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a live process (Linux `VmHWM`), 0.0 when unknown."""
    return _status_kb(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    """Current resident set size of a live process (Linux `VmRSS`), 0.0 when unknown."""
    return _status_kb(pid, "VmRSS") / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux), 0.0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" closing the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return _psutil_rss_kb(pid)


def _psutil_rss_kb(pid: int) -> float:
    """Where /proc is missing (macOS): psutil's current RSS, when psutil is installed."""
    try:
        import psutil
    except ImportError:
        return 0.0
    try:
        return float(psutil.Process(pid).memory_info().rss) / 1024
    except psutil.Error:
        return 0.0


def listen_overflows() -> int | None:
    """The machine's count of connections a full listen queue turned away (Linux TcpExt
    ListenOverflows; each costs the client a SYN retry, 1 s or more), None when unknown."""
    try:
        with open("/proc/net/netstat", encoding="ascii") as netstat:
            lines = netstat.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            if "ListenOverflows" in fields:
                return int(fields["ListenOverflows"])
    return None


def machine_cpu() -> tuple[float, float] | None:
    """CPU seconds (summed over the cores) busy and in all since boot (Linux /proc/stat), or
    None."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]  # guest time is in user
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick
