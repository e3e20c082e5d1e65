"""``softone-sync serve`` / ``demo`` as real subprocesses on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fixtures.cli_process import CLI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up within {timeout}s")


@contextmanager
def running(
    args: list[str], *, env: Mapping[str, str], cwd: Path, port: int, log: Path
) -> Iterator[subprocess.Popen[str]]:
    """Start ``softone-sync ARGS``; on exit send SIGINT and require a clean stop."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [*CLI, *args], env={**os.environ, **env}, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}", process)
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    raise AssertionError("the process did not stop within 30 s of Ctrl-C") from None
