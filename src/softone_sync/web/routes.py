"""The operator dashboard's HTTP routes: login, integrations, runs, connections, and /metrics.

Every page needs the admin session cookie (web/session.py); every POST also needs the CSRF token
bound to that session. Errors render as a page with a precise message and the right status, never
a stack trace — the route class below guarantees it for every handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from softone_sync.config import Settings, get_settings
from softone_sync.db.engine import Database
from softone_sync.metrics import render_metrics
from softone_sync.services import (
    PUSH_REJECT_PREFIX,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    reject_kind,
    resolve_conflict,
)
from softone_sync.web import formatting, queries
from softone_sync.web.actions import Launches, check_connection, set_active, start_run
from softone_sync.web.charts import runs_chart
from softone_sync.web.session import COOKIE_NAME, DashboardSession, SessionSigner

log = logging.getLogger("softone_sync.web")

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters.update(
    local_time=formatting.local_time,
    relative=formatting.relative_time,
    duration=formatting.duration,
    count=formatting.count,
    iso=formatting.iso,
)
TEMPLATES.env.globals["as_table"] = formatting.as_table
TEMPLATES.env.filters["reject_kind"] = reject_kind
TEMPLATES.env.filters["reject_record"] = lambda key: str(key).removeprefix(PUSH_REJECT_PREFIX)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
RUN_PAGE_REFRESH_SECONDS = 2
LAUNCHES_STATE_KEY = "softone_sync_dashboard_launches"


class LoginRequired(Exception):
    """No valid session: the route class answers with a redirect to the login page."""


class DashboardRoute(APIRoute):
    """Turns every failure of a dashboard handler into a page (or a login redirect)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if any("\x00" in str(value) for value in request.path_params.values()):
                # No id contains NUL, and PostgreSQL cannot even compare one (a DataError, a 500).
                return render_error(request, 404, "Not found.")
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = f"{_root(request)}/login"
                if request.method == "GET" and target not in ("/", ""):
                    login += f"?next={quote(target, safe='/')}"
                return _redirect(login)
            except HTTPException as exc:
                return render_error(request, exc.status_code, str(exc.detail))
            except RequestValidationError:
                return render_error(request, 400, "The form was incomplete. Reload the page and try again.")
            except Exception as exc:
                log.error(  # the traceback is for the operator (secrets are masked by our logging)
                    "dashboard error %s on %s %s",
                    type(exc).__name__,
                    request.method,
                    request.url.path,
                    exc_info=exc,
                    extra={"action": "dashboard_error"},
                )
                return render_error(request, 500, "Something went wrong on the server; see the server log.")

        return guarded


router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@dataclass
class UiState:
    db: Database
    settings: Settings
    manager: Any
    track: Callable[[Any], None] | None
    launches: Launches


def ui_state(request: Request) -> UiState:
    """What the pages need from the app. ``app.state.db``/``settings``/``manager`` first (the app
    contract); an API ``SyncService`` on ``app.state.softone_sync`` also works."""
    state = request.app.state
    service = getattr(state, "softone_sync", None)
    db = getattr(state, "db", None)
    if db is None and service is not None:
        try:
            db = service.db  # raises while the service is starting or stopped
        except Exception:
            db = None
    if db is None:
        raise HTTPException(503, "The service is starting or stopped; retry in a moment.")
    settings = getattr(state, "settings", None) or getattr(service, "settings", None) or get_settings()
    manager = getattr(state, "manager", None) or getattr(service, "_manager", None)
    launches = getattr(state, LAUNCHES_STATE_KEY, None)
    if launches is None:
        launches = Launches()
        setattr(state, LAUNCHES_STATE_KEY, launches)
    return UiState(
        db=db, settings=settings, manager=manager, track=getattr(service, "track", None), launches=launches
    )


def _signer(request: Request) -> SessionSigner | None:
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        service = getattr(request.app.state, "softone_sync", None)
        settings = getattr(service, "settings", None) or get_settings()
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    return SessionSigner(token) if token else None


def require_login(request: Request) -> DashboardSession:
    signer = _signer(request)
    session = signer.verify(request.cookies.get(COOKIE_NAME)) if signer else None
    if signer is None or session is None:
        raise LoginRequired()
    request.state.csrf_token = signer.csrf_token(session)
    return session


def require_csrf(
    request: Request,
    session: DashboardSession = Depends(require_login),
    csrf_token: str = Form(default=""),
) -> DashboardSession:
    signer = _signer(request)
    if signer is None or not signer.csrf_valid(session, csrf_token):
        raise HTTPException(
            403, "This form has expired or was sent from another site. Reload the page and retry."
        )
    return session


# Dependency aliases, so each route's signature says what it needs in one short line.
LoggedIn = Annotated[DashboardSession, Depends(require_login)]
CsrfChecked = Annotated[DashboardSession, Depends(require_csrf)]
Ui = Annotated[UiState, Depends(ui_state)]


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    base = {
        "root": _root(request),
        "csrf_token": getattr(request.state, "csrf_token", None),
        "now": datetime.now(UTC),
        "active_nav": context.get("active_nav", ""),
    }
    response = TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "message": message}, status=status)


# ---------------------------------------------------------------------------------------- login


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(
        request, "login.html", {"next": _safe_next(next), "error": None, "enabled": bool(_signer(request))}
    )


@router.post("/login")
async def login(request: Request, token: str = Form(default=""), next: str = Form(default="/")) -> Response:
    signer = _signer(request)
    if signer is None:
        return render(request, "login.html", {"next": "/", "error": None, "enabled": False}, status=503)
    if not signer.token_matches(token):
        log.warning("dashboard login rejected", extra={"action": "dashboard_login_failed"})
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "Wrong admin token.", "enabled": True},
            401,
        )
    _session, cookie = signer.issue()
    response = _redirect(_root(request) + _safe_next(next))
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(signer.max_age),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=_root(request) or "/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, _session: CsrfChecked) -> Response:
    response = _redirect(f"{_root(request)}/login")
    response.delete_cookie(COOKIE_NAME, path=_root(request) or "/")
    return response


def _safe_next(target: str) -> str:
    # Only paths on this site: "//evil.example" and "https://..." would be open redirects.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ---------------------------------------------------------------------------------- integrations


@router.get("/")
async def integrations_page(request: Request, _session: LoggedIn, ui: Ui) -> HTMLResponse:
    integrations = await queries.list_integrations(ui.db)
    failing = sum(1 for i in integrations if i.failing)
    return render(
        request,
        "integrations.html",
        {"integrations": integrations, "failing": failing, "active_nav": "integrations"},
    )


@router.get("/integrations/{integration_id}")
async def integration_page(request: Request, integration_id: str, _session: LoggedIn, ui: Ui) -> HTMLResponse:
    detail = await queries.integration_detail(ui.db, integration_id)
    if detail is None:
        raise HTTPException(404, "No integration with this id.")
    return render(
        request,
        "integration.html",
        {
            "d": detail,
            "i": detail.summary,
            "chart": runs_chart(detail.chart_points),
            "active_nav": "integrations",
        },
    )


@router.post("/integrations/{integration_id}/run")
async def run_now(request: Request, integration_id: str, _session: CsrfChecked, ui: Ui) -> Response:
    return await _launch(request, ui, integration_id, dry_run=False)


@router.post("/integrations/{integration_id}/dry-run")
async def dry_run(request: Request, integration_id: str, _session: CsrfChecked, ui: Ui) -> Response:
    return await _launch(request, ui, integration_id, dry_run=True)


async def _launch(request: Request, ui: UiState, integration_id: str, *, dry_run: bool) -> Response:
    if await queries.integration_name(ui.db, integration_id) is None:
        raise HTTPException(404, "No integration with this id.")
    launch = start_run(ui.db, ui.settings, ui.launches, integration_id, dry_run=dry_run, track=ui.track)
    log.info(
        "[SYNC] %s started from the dashboard",
        "dry run" if dry_run else "run",
        extra={"action": "dashboard_run", "integration_id": integration_id, "run_id": launch.run_id},
    )
    return _redirect(f"{_root(request)}/runs/{launch.run_id}")


@router.post("/integrations/{integration_id}/enable")
async def enable(request: Request, integration_id: str, _session: CsrfChecked, ui: Ui) -> Response:
    return await _toggle(request, ui, integration_id, active=True)


@router.post("/integrations/{integration_id}/disable")
async def disable(request: Request, integration_id: str, _session: CsrfChecked, ui: Ui) -> Response:
    return await _toggle(request, ui, integration_id, active=False)


async def _toggle(request: Request, ui: UiState, integration_id: str, *, active: bool) -> Response:
    try:
        await set_active(ui.db, integration_id, active, manager=ui.manager)
    except NotFound:
        raise HTTPException(404, "No integration with this id.") from None
    except ServiceError as exc:
        # e.g. enabling an integration whose configJson no longer validates: say which field.
        raise HTTPException(400, f"Cannot enable this integration: {exc}") from None
    log.info(
        "integration %s from the dashboard",
        "enabled" if active else "disabled",
        extra={"action": "dashboard_toggle", "integration_id": integration_id},
    )
    back = request.headers.get("referer", "")
    target = f"{_root(request)}/integrations/{integration_id}"
    if back.endswith(f"{_root(request)}/") or back.rstrip("/") == str(request.base_url).rstrip("/"):
        target = f"{_root(request)}/"
    return _redirect(target)


@router.post("/conflicts/{conflict_id}/resolve")
async def resolve(
    request: Request,
    conflict_id: int,
    _session: CsrfChecked,
    ui: Ui,
    side: str = Form(default=""),
) -> Response:
    """ "Keep app" / "Keep ERP": records the choice; the integration's next run applies it."""
    try:
        resolution = await resolve_conflict(ui.db, conflict_id, side)
    except NotFound:
        raise HTTPException(404, "No conflict with this id.") from None
    except Conflict as exc:
        raise HTTPException(409, f"{exc}.") from None
    except InvalidInput:
        raise HTTPException(400, "Choose whose values to keep: the application's or the ERP's.") from None
    log.info(
        "conflict %s resolved from the dashboard: keep %s",
        conflict_id,
        resolution.side,
        extra={"action": "dashboard_resolve", "integration_id": resolution.integration_id},
    )
    return _redirect(f"{_root(request)}/integrations/{resolution.integration_id}#conflicts")


# ------------------------------------------------------------------------------------------- runs


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str, _session: LoggedIn, ui: Ui) -> HTMLResponse:
    found = await queries.run_with_integration(ui.db, run_id)
    launch = ui.launches.get(run_id)
    if found is None and launch is None:
        raise HTTPException(404, "No run with this id.")
    run: queries.RunView | None
    name: str | None
    if found is not None:
        run, name = found
        integration_id = run.integration_id
    else:
        assert launch is not None
        run, integration_id = None, launch.integration_id
        name = await queries.integration_name(ui.db, integration_id)
    pending = run is None and launch is not None and not launch.done
    refresh = pending or (run is not None and run.status == "running")
    return render(
        request,
        "run.html",
        {
            "run": run,
            "launch": launch,
            "integration_name": name,
            "integration_id": integration_id,
            "refresh": RUN_PAGE_REFRESH_SECONDS if refresh else None,
            "pending": pending,
            "active_nav": "integrations",
        },
    )


# ------------------------------------------------------------------------------------ connections


@router.get("/connections")
async def connections_page(request: Request, _session: LoggedIn, ui: Ui) -> HTMLResponse:
    return render(
        request,
        "connections.html",
        {"connections": await queries.list_connections(ui.db), "check": None, "active_nav": "connections"},
    )


@router.post("/connections/{connection_id}/test")
async def connection_test(
    request: Request,
    connection_id: str,
    _session: CsrfChecked,
    ui: Ui,
) -> HTMLResponse:
    try:
        check = await check_connection(ui.db, ui.settings, connection_id)
    except NotFound:
        raise HTTPException(404, "No connection with this id.") from None
    log.info(
        "connection test %s",
        "succeeded" if check.ok else "failed",
        extra={"action": "dashboard_connection_test", "connection_id": connection_id},
    )
    return render(
        request,
        "connections.html",
        {
            "connections": await queries.list_connections(ui.db),
            "check": check,
            "checked_id": connection_id,
            "active_nav": "connections",
        },
    )


# ---------------------------------------------------------------------------------------- metrics


@router.get("/metrics")
async def metrics(ui: Ui) -> Response:
    body = await render_metrics(ui.db)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
