"""Run the simulator as a real HTTP server on loopback, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from softone_sync.softone.simulator.app import create_app
from softone_sync.softone.simulator.core import Simulator, SimulatorConfig
from softone_sync.softone.simulator.faults import FaultPlan

_START_TIMEOUT = 10.0


class RunningSimulator:
    """A simulator served by uvicorn in a daemon thread; ``stop()`` (or ``with``) shuts it down."""

    def __init__(
        self, simulator: Simulator, server: uvicorn.Server, thread: threading.Thread, host: str, port: int
    ):
        self.simulator = simulator
        self.host = host
        self.port = port
        self._server = server
        self._thread = thread

    @property
    def faults(self) -> FaultPlan:
        """Shortcut for ``simulator.faults``: ``running.faults.add("http_500", "setData")``."""
        return self.simulator.faults

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The /s1services URL a SoftOne client is configured with."""
        return f"{self.base_url}/s1services"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSimulator(url={self.url!r})"


def run_in_thread(
    config: SimulatorConfig | Simulator | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Start serving and return once the socket accepts connections (port 0 = a free port)."""
    simulator = config if isinstance(config, Simulator) else Simulator(config)
    # Bind here so port 0 resolves to a real port before uvicorn starts, without a race.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    uv_config = uvicorn.Config(
        create_app(simulator),
        log_level="critical",  # simulated drops raise on purpose; keep test output clean
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(uv_config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"softone-simulator:{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the SoftOne simulator did not start on {host}:{bound_port}")
        time.sleep(0.01)
    return RunningSimulator(simulator, server, thread, host, bound_port)


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve in the foreground until interrupted (the ``softone-sync simulator`` command)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", lifespan="off")
