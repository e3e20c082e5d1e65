"""The /_sim/ control surface: the Simulator's control methods as JSON over HTTP (UTF-8).

Lets a demo, a benchmark or a test in another process act as ERP users and operators: change
records, expire sessions and reqIDs, inject faults, read statistics, reset.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from softone_sync.softone.simulator.faults import rule_from_json

if TYPE_CHECKING:
    from softone_sync.softone.simulator.core import Simulator

Endpoint = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _guarded(handler: Endpoint) -> Endpoint:
    """Bad input answers 400/404 with a precise message, never a stack trace."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except KeyError as exc:
            return _error(404, str(exc.args[0]) if exc.args else "not found")
        except ValueError as exc:
            return _error(400, str(exc))

    return endpoint


def _key(request: Request) -> str:
    key = str(request.path_params["key"])
    if not key.isdigit():
        raise ValueError(f"record key must be a positive integer, got {key!r}")
    return key


def control_routes(sim: Simulator) -> list[Route]:
    async def stats(request: Request) -> Response:
        return JSONResponse(sim.stats())

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse({"ok": True})

    async def expire_sessions(request: Request) -> Response:
        return JSONResponse({"expired": sim.expire_sessions()})

    async def expire_reqids(request: Request) -> Response:
        return JSONResponse({"expired": sim.expire_reqids()})

    async def list_faults(request: Request) -> Response:
        return JSONResponse([rule.to_json() for rule in sim.faults.rules])

    async def add_fault(request: Request) -> Response:
        rule = sim.faults.add_rule(rule_from_json(await _json_object(request)))
        return JSONResponse(rule.to_json(), status_code=201)

    async def clear_faults(request: Request) -> Response:
        sim.faults.clear()
        return JSONResponse({"ok": True})

    async def remove_fault(request: Request) -> Response:
        if not sim.faults.remove(int(request.path_params["rule_id"])):
            raise KeyError(f"no fault rule {request.path_params['rule_id']}")
        return JSONResponse({"ok": True})

    async def insert_record(request: Request) -> Response:
        key = sim.insert_record(request.path_params["obj"], await _json_object(request))
        return JSONResponse({"id": key}, status_code=201)

    async def get_record(request: Request) -> Response:
        obj, key = request.path_params["obj"], _key(request)
        row = sim.get_record(obj, key)
        if row is None:
            raise KeyError(f"{obj.upper()} record {key} does not exist")
        return JSONResponse(row)

    async def update_record(request: Request) -> Response:
        sim.update_record(request.path_params["obj"], _key(request), await _json_object(request))
        return JSONResponse({"ok": True})

    async def delete_record(request: Request) -> Response:
        sim.delete_record(request.path_params["obj"], _key(request))
        return JSONResponse({"ok": True})

    return [
        Route("/stats", _guarded(stats), methods=["GET"]),
        Route("/reset", _guarded(reset), methods=["POST"]),
        Route("/sessions/expire", _guarded(expire_sessions), methods=["POST"]),
        Route("/reqids/expire", _guarded(expire_reqids), methods=["POST"]),
        Route("/faults", _guarded(list_faults), methods=["GET"]),
        Route("/faults", _guarded(add_fault), methods=["POST"]),
        Route("/faults", _guarded(clear_faults), methods=["DELETE"]),
        Route("/faults/{rule_id:int}", _guarded(remove_fault), methods=["DELETE"]),
        Route("/records/{obj}", _guarded(insert_record), methods=["POST"]),
        Route("/records/{obj}/{key}", _guarded(get_record), methods=["GET"]),
        Route("/records/{obj}/{key}", _guarded(update_record), methods=["PATCH"]),
        Route("/records/{obj}/{key}", _guarded(delete_record), methods=["DELETE"]),
    ]
