"""A real uvicorn server on a loopback port, in a thread, for HTTP tests."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        if self.thread.is_alive():  # pragma: no cover - a hang here is a bug to see, not to hide
            raise RuntimeError("the API server did not stop within 60 s")


def start_server(app: Any, *, host: str = "127.0.0.1") -> LiveServer:
    """Start ``app`` with uvicorn on a free port (lifespan on); returns once it accepts requests."""
    # proxy_headers off, as `softone-sync serve` runs it: TRUSTED_PROXIES alone decides on X-Forwarded-For.
    config = uvicorn.Config(
        app, host=host, port=0, lifespan="on", log_level="warning", access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=serve, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"the API server failed to start: {errors[0] if errors else 'exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the API server did not start within 30 s")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(url=f"http://{host}:{port}", server=server, thread=thread)
