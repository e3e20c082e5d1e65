"""What every route needs: the JSON error shape, the route class that enforces it, and the service state.

Errors are ``{"error": "<code>", "detail": ...}`` with a precise 4xx. They are produced by the route
class (:class:`JsonErrorRoute`) rather than by app-level exception handlers, because the cron router
is also mounted into users' own FastAPI/Starlette apps, whose handlers we do not control: the shape
and the "never a stack trace" promise must travel with the routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from softone_sync.config import Settings, get_settings
from softone_sync.services import Conflict, InvalidInput, NotConfigured, NotFound, ServiceError

if TYPE_CHECKING:
    from softone_sync.db.engine import Database
    from softone_sync.schedule.manager import CronManager

log = logging.getLogger("softone_sync.api")

# Management bodies carry a configJson (mappings of a few hundred fields at most); 1 MiB is generous.
MAX_BODY_BYTES = 1024 * 1024


class ApiError(Exception):
    """An answer other than success: rendered as ``{"error": code, "detail": detail}`` with ``status``."""

    def __init__(
        self, status: int, error: str, detail: Any = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers

    def response(self) -> JSONResponse:
        return error_response(self.status, self.error, self.detail, headers=self.headers)


def error_response(
    status: int, error: str, detail: Any = None, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic/FastAPI error dicts as ``[{"field": "configJson.schedule.cronExpression", "message": ...}]``.

    The ``body``/``query``/``path`` prefix FastAPI adds is dropped: users name fields, not locations.
    The offending input is deliberately not echoed: it may be a password.
    """
    out: list[dict[str, str]] = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            message = f"malformed JSON: {err.get('ctx', {}).get('error', 'cannot be parsed')}"
            loc = []
        out.append({"field": ".".join(loc) or "body", "message": message})
    return out


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    return error_response(422, "invalid-request", field_errors(exc.errors()))


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    except ValueError:
        code = "http-error"
    return error_response(exc.status_code, code, exc.detail, headers=dict(exc.headers or {}))


def service_error_response(exc: ServiceError) -> JSONResponse:
    if isinstance(exc, InvalidInput):
        return error_response(422, exc.code, exc.errors)
    status = {NotFound: 404, Conflict: 409, NotConfigured: 503}.get(type(exc), 400)
    return error_response(status, exc.code, str(exc))


def internal_error_response(request: Request, exc: BaseException) -> JSONResponse:
    # The operator needs the traceback to find the bug; the client gets none of it. Known secrets
    # (CRON_SECRET, ADMIN_TOKEN, SECRET_KEY, the database and ERP passwords, the webhook URL) are masked
    # in every log record, tracebacks included, by softone_sync.logging's redaction.
    log.error(
        "unexpected %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"action": "api_error"},
    )
    return error_response(500, "internal-error", "unexpected server error; see the server log")


class LimitedRequest(Request):
    """A request whose body may not exceed ``limit`` bytes, whether announced or streamed (chunked)."""

    limit = MAX_BODY_BYTES

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                raise _too_large(self.limit)
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > self.limit:
                    raise _too_large(self.limit)
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body-too-large", f"request body exceeds {limit} bytes")


NUL_MESSAGE = "must not contain the NUL character (\\u0000)"


def nul_fields(request: Request, body: bytes) -> list[dict[str, str]]:
    """The path/query parameters and JSON body fields holding a NUL character, as field errors.

    PostgreSQL text cannot store NUL (the driver fails with a DataError, which would be a 500) and
    no name, id, cron expression or ERP field legitimately contains one, so every route refuses it
    up front, on both dialects alike, naming the field.
    """
    errors = [
        {"field": name, "message": NUL_MESSAGE}
        for source in (request.path_params.items(), request.query_params.multi_items())
        for name, value in source
        if isinstance(value, str) and "\x00" in value
    ]
    # In JSON text a NUL can only be the escape \u0000 (a raw one is malformed JSON, refused by
    # the parser); the byte test keeps the common case from parsing the body twice.
    if b"\\u0000" in body:
        try:
            document = json.loads(body)
        except ValueError:
            return errors  # malformed: FastAPI's own parser reports it
        errors.extend({"field": path or "body", "message": NUL_MESSAGE} for path in _nul_paths(document, ""))
    return errors


def _nul_paths(value: object, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield path or "body"
                continue
            yield from _nul_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}[{index}]")


class JsonErrorRoute(APIRoute):
    """An APIRoute that caps the body and turns every failure into the JSON error shape."""

    max_body_bytes = MAX_BODY_BYTES

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = self.max_body_bytes

        async def guarded(request: Request) -> Response:
            limited = LimitedRequest(request.scope, request.receive)
            limited.limit = limit
            try:
                # Read (and cap) the body before FastAPI does: its own reader turns any error
                # raised while reading into a 400.
                body = await limited.body() if request.method in ("POST", "PUT", "PATCH") else b""
                if refused := nul_fields(limited, body):
                    return error_response(422, "invalid-request", refused)
                return await handler(limited)
            except ApiError as exc:
                return exc.response()
            except ServiceError as exc:
                return service_error_response(exc)
            except RequestValidationError as exc:
                return validation_error_response(exc)
            except StarletteHTTPException as exc:
                return http_error_response(exc)
            except Exception as exc:
                return internal_error_response(request, exc)

        return guarded


class SmallBodyRoute(JsonErrorRoute):
    """Cron endpoints take at most ``{"integrationId": "..."}``; anything bigger is abuse."""

    max_body_bytes = 16 * 1024


@dataclass
class _Owned:
    db: bool = False


class SyncService:
    """The running parts the API drives: settings, the database, the cron manager, background runs.

    One instance per process. :func:`softone_sync.api.create_app` makes one; to embed the cron
    router in your own app, make one yourself and use :meth:`lifespan` (or ``async with service``).
    A database or manager passed in is used as is and left open on stop (the caller owns it).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        db: Database | None = None,
        manager: CronManager | None = None,
        scheduler: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self._db = db
        self._manager = manager
        self.scheduler = scheduler
        self.scheduler_running = False
        self._owned = _Owned()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False

    @property
    def db(self) -> Database:
        if self._db is None:
            raise ApiError(503, "not-ready", "the service is starting or stopped; retry shortly")
        return self._db

    @property
    def manager(self) -> CronManager:
        if self._manager is None:
            # Built on first use when the scheduler is off: an API-only process needs one only for
            # the cron endpoints and for rescheduling after management writes.
            from softone_sync.services import build_manager

            self._manager = build_manager(self.db, self.settings)
        return self._manager

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        if self._started:
            return
        if self._db is None:
            from softone_sync.db.engine import open_database

            # SQLite is the embedded, zero-setup mode: bring its schema to head on start. PostgreSQL
            # is upgraded deliberately (`softone-sync db upgrade`); /readyz reports if it is behind.
            self._db = await open_database(self.settings.database_url, upgrade=self.settings.is_sqlite)
            self._owned.db = True
        if self.scheduler:
            await self.manager.start()
            self.scheduler_running = True
        self._started = True

    async def stop(self, grace: float = 30.0) -> None:
        if not self._started:
            return
        self._started = False
        if self.scheduler_running and self._manager is not None:
            self.scheduler_running = False
            await self._manager.stop(grace=grace)
        await self._drain(grace)
        if self._owned.db and self._db is not None:
            await self._db.dispose()
            self._db = None
            self._owned.db = False

    async def _drain(self, grace: float) -> None:
        # Runs answered with 202 keep going after their request; give them the grace period to
        # finish (their lease would expire and the reaper would fail them otherwise), then cancel.
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep a background run alive (asyncio holds only weak references) until it ends."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def __aenter__(self) -> SyncService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def service_from_app(request: Request) -> SyncService:
    """The service stored on the app by :func:`create_app` (or by ``install_service``)."""
    service = getattr(request.app.state, "softone_sync", None)
    if not isinstance(service, SyncService):
        raise ApiError(
            503,
            "not-configured",
            "no SyncService on this app: pass one to build_router(service) or use create_app()",
        )
    return service


ServiceProvider = Callable[[Request], SyncService]


def provider_for(service: SyncService | None) -> ServiceProvider:
    """A FastAPI dependency returning ``service``, or the app's service when ``None``."""
    if service is None:
        return service_from_app

    def bound(request: Request) -> SyncService:
        return service

    return bound
