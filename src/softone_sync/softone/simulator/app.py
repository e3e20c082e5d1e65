"""HTTP around the simulator: /s1services as S1 serves it, plus the /_sim/ control surface.

/s1services is a raw ASGI endpoint because faults need control below the response level: hanging,
sending half a body, or dropping the connection after the call committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from softone_sync.softone.simulator.control import control_routes
from softone_sync.softone.simulator.core import Simulator, SimulatorConfig
from softone_sync.softone.simulator.faults import FaultKind, FaultRule
from softone_sync.softone.simulator.protocol import (
    CONTENT_TYPE,
    Params,
    ServiceError,
    encode_payload,
    gzip_body,
    invalid_request,
    parse_body,
    wants_gzip,
)
from softone_sync.softone.simulator.services import canonical_service

PING_BANNER = (
    "Ping from Softone WebModule<br>ISAPI is working - Module configured<br>"
    "Running in TCP mode [127.0.0.1:22099 Connected]<br>"
)
# Faults that decide how the answer goes out; the first one that fired wins.
_TERMINAL = (
    FaultKind.HTTP_500,
    FaultKind.DROP,
    FaultKind.TIMEOUT,
    FaultKind.TRUNCATE,
    FaultKind.COMMIT_THEN_500,
    FaultKind.COMMIT_THEN_DROP,
)


class ConnectionDropped(Exception):
    """Raised after a partial response so the server closes the connection mid-answer."""


class S1Endpoint:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        gzip_ok = wants_gzip(headers.get("accept-encoding", ""))
        if scope["method"] == "GET" and not body.strip():
            await self._query(scope, send)
            return
        try:
            params = parse_body(body)
        except ServiceError as exc:
            await _send(send, 200, encode_payload(exc.payload()), CONTENT_TYPE, gzip_ok)
            return
        await self._service(params, send, gzip_ok)

    async def _query(self, scope: Scope, send: Send) -> None:
        query = scope["query_string"].decode("latin-1").lower()
        if query.startswith("ping"):
            await _send(send, 200, PING_BANNER.encode("cp1253"), "text/html; charset=windows-1253", False)
        elif query.startswith("refresh"):
            await _send(send, 200, b"OK", "text/html; charset=windows-1253", False)
        else:
            payload = invalid_request("expected a JSON request body").payload()
            await _send(send, 200, encode_payload(payload), CONTENT_TYPE, False)

    async def _service(self, params: Params, send: Send, gzip_ok: bool) -> None:
        sim = self.simulator
        fired = sim.faults.draw(canonical_service(params.text("service")))
        for rule in fired:
            if rule.kind is FaultKind.LATENCY:
                await asyncio.sleep(rule.seconds)
        self._apply_state_faults(params, fired)
        terminal: FaultRule | None = next((r for r in fired if r.kind in _TERMINAL), None)
        kind = terminal.kind if terminal else None
        if terminal is not None and kind is FaultKind.TIMEOUT:
            await asyncio.sleep(terminal.seconds)
        if kind is FaultKind.HTTP_500:
            await _send(send, 500, b"Internal Server Error", "text/plain", False)
            return
        if kind is FaultKind.DROP:
            await _drop(send, b"")
        payload = sim.call(params)
        if kind is FaultKind.COMMIT_THEN_500:
            await _send(send, 500, b"Internal Server Error", "text/plain", False)
            return
        encoded = encode_payload(payload)
        if kind is FaultKind.COMMIT_THEN_DROP:
            await _drop(send, encoded)
        if kind is FaultKind.TRUNCATE:
            encoded = encoded[: len(encoded) // 2]
        await _send(send, 200, encoded, CONTENT_TYPE, gzip_ok)

    def _apply_state_faults(self, params: Params, fired: list[FaultRule]) -> None:
        sim = self.simulator
        with sim.lock:
            for rule in fired:
                if rule.kind is FaultKind.EXPIRE_SESSION:
                    sim.sessions.expire(params.text("clientID"))
                elif rule.kind is FaultKind.EXPIRE_REQID:
                    req_id = params.text("reqID").strip()
                    if not (req_id and sim.browsers.expire(req_id)):
                        sim.browsers.expire_all()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, content_type: str, gzip_ok: bool) -> None:
    headers = [(b"content-type", content_type.encode("latin-1"))]
    if gzip_ok and body:
        body = gzip_body(body)
        headers.append((b"content-encoding", b"gzip"))
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send, body: bytes) -> None:
    """Promise a body, deliver part of it, then fail: the server closes the connection."""
    headers = [
        (b"content-type", CONTENT_TYPE.encode("latin-1")),
        (b"content-length", str(len(body) + 1024).encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise ConnectionDropped("simulated connection drop")


def create_app(config_or_simulator: SimulatorConfig | Simulator | None = None) -> Starlette:
    """The simulator as an ASGI app: serve it with uvicorn or mount it in httpx.ASGITransport."""
    if isinstance(config_or_simulator, Simulator):
        simulator = config_or_simulator
    else:
        simulator = Simulator(config_or_simulator)
    endpoint: Any = S1Endpoint(simulator)
    app = Starlette(
        routes=[
            Route("/s1services", endpoint=endpoint, methods=["GET", "POST"]),
            Route("/s1services/", endpoint=endpoint, methods=["GET", "POST"]),
            Mount("/_sim", routes=control_routes(simulator)),
        ]
    )
    app.state.simulator = simulator
    return app
