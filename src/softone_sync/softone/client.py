"""Async SoftOne Web Services client: session handling, transport retries, the services.

Three layers, bottom up:

* ``_send``: one JSON POST with bounded retries (exponential backoff, jitter) for failures that
  say nothing about the ERP's state — timeouts, connection errors, 5xx, a body that is not JSON.
  A call that is not idempotent (a setData insert) is retried only when the request provably never
  left this process; otherwise it raises ``OutcomeUnknown`` rather than risk a duplicate record.
* ``_call``: the session — lazily logs in, turns ``success:false`` into the typed errors of
  ``errors.py``, and on a session error (−1 outside login, −100, −101) logs in again exactly once
  (single-flight: concurrent callers share that login) and retries the call once.
* the services (getObjects … selectorFields) and ``browse()``, the browser page iterator.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from softone_sync.logging import register_secret

from .browser import BrowserInfo, BrowserPage, iterate_pages, page_from_answer
from .codec import (
    BodyNotJson,
    check_envelope,
    data_of,
    decode_text,
    encode_body,
    get_ci,
    list_of,
    opt_str,
    parse_body,
    required_str,
)
from .convert import ConversionError, from_python, timezone_of
from .errors import (
    AuthenticateFailed,
    DataNotFound,
    OutcomeUnknown,
    ProtocolError,
    SoftOneError,
    TransportError,
)

log = logging.getLogger("softone_sync.softone.client")

# SoftOne numbers new detail lines from here; a setData carrying one adds a line on every replay.
NEW_LINE_NUMBER = 9_000_001

# Failures where the request provably never reached the server: safe to retry anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach and log in to one SoftOne installation. The password never appears in repr."""

    base_url: str
    username: str
    password: str = field(repr=False)
    app_id: str
    company: str | None = None
    branch: str | None = None
    module: str | None = None
    refid: str | None = None
    timeout: float = 30.0
    max_concurrency: int = 4
    retries: int = 3
    erp_timezone: str = "Europe/Athens"

    def __post_init__(self) -> None:
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(
                "base_url must be an http(s) URL such as https://NAME.oncloud.gr/s1services, "
                f"got {safe_url(self.base_url)!r}"
            )
        if not self.username:
            raise ValueError("username must not be empty")
        # appId and the context ids are strings on the wire; accept ints from config files.
        for name in ("app_id", "company", "branch", "module", "refid"):
            value = getattr(self, name)
            if isinstance(value, int):
                object.__setattr__(self, name, str(value))
            elif value == "" and name != "app_id":
                object.__setattr__(self, name, None)
        if not self.app_id:
            raise ValueError("app_id must not be empty (the Web Service id defined in SoftOne)")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.retries < 0:
            raise ValueError(f"retries must not be negative, got {self.retries}")
        try:
            timezone_of(self.erp_timezone)
        except ConversionError as exc:
            raise ValueError(f"erp_timezone: {exc}") from None

    @property
    def has_login_context(self) -> bool:
        """All four of COMPANY/BRANCH/MODULE/REFID are set: one-step login, no authenticate."""
        return None not in (self.company, self.branch, self.module, self.refid)


@dataclass(frozen=True)
class SessionInfo:
    """A logged-in session. ``client_id`` is the bearer token: kept out of repr."""

    client_id: str = field(repr=False)
    company: str | None
    branch: str | None
    module: str | None
    refid: str | None
    company_name: str | None = None
    branch_name: str | None = None
    user_id: str | None = None
    version: str | None = None
    serial: str | None = None
    logged_in_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class SetDataResult:
    id: str
    message: str | None = None


@dataclass(frozen=True)
class SqlDataResult:
    rows: list[dict[str, str]]
    totalcount: int


def safe_url(url: str) -> str:
    """A URL fit for messages: user-info (credentials) removed."""
    try:
        parsed = httpx.URL(url)
    except Exception:
        return "<invalid URL>"
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


CallObserver = Callable[[str, float, "int | str | None"], None]
_call_observers: list[CallObserver] = []


def add_call_observer(observer: CallObserver) -> None:
    """Register ``observer(service, seconds, errorcode)`` for every finished call (metrics hook).

    ``errorcode`` is None on success, SoftOne's code on an ERP error, ``"transport"`` otherwise.

    A module-level hook keeps the client free of any metrics dependency: it stays usable as a
    library on its own, and whoever exposes metrics registers itself here.
    """
    if observer not in _call_observers:
        _call_observers.append(observer)


def _notify_observers(service: str, seconds: float, errorcode: int | str | None) -> None:
    for observer in _call_observers:
        try:
            observer(service, seconds, errorcode)
        except Exception:  # an observer must never break a sync
            log.exception("call observer failed")


class SoftOneClient:
    """One SoftOne connection: a keep-alive HTTP client, a session and a concurrency cap.

    Use as ``async with SoftOneClient(settings) as client:``. The first call logs in.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        max_login_attempts: int = 5,
    ) -> None:
        self.settings = settings
        self.session: SessionInfo | None = None
        # Masked in every log record, tracebacks included. (ClientIDs are never put in a message or
        # repr in the first place; registering each new one would grow the mask without bound.)
        register_secret(settings.password)
        self._url = settings.base_url
        self._display_url = safe_url(settings.base_url)
        self._tz = timezone_of(settings.erp_timezone)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_login_attempts = max_login_attempts
        self._relogins_since_success = 0
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._login_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
            ),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
                # BB: SoftOne compresses with gzip when asked; say so explicitly.
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": "softone-sync",
            },
        )

    def __repr__(self) -> str:
        s = self.settings
        return f"SoftOneClient(base_url={self._display_url!r}, username={s.username!r}, app_id={s.app_id!r})"

    async def __aenter__(self) -> SoftOneClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ session

    async def login(self) -> SessionInfo:
        """Log in now (replacing any current session) and return the new session."""
        async with self._login_lock:
            self.session = await self._login()
            return self.session

    async def _current_session(self) -> SessionInfo:
        session = self.session
        if session is not None:
            return session
        async with self._login_lock:
            if self.session is None:
                self.session = await self._login()
            return self.session

    async def _relogin(self, stale: SessionInfo) -> SessionInfo:
        """Replace ``stale`` with a fresh session; callers that lost the race reuse the winner's."""
        async with self._login_lock:
            if self.session is not None and self.session is not stale:
                return self.session
            self.session = None
            self._relogins_since_success += 1
            if self._relogins_since_success > self._max_login_attempts:
                # Every fresh session was rejected at once: logging in again would only burn licences.
                self._relogins_since_success = 0
                raise ProtocolError(
                    f"logged in again {self._max_login_attempts} times in a row and every new session "
                    "was rejected as expired; check the web account's session time (EXPTIME) and the "
                    "server clock",
                    service="login",
                )
            self.session = await self._login()
            return self.session

    async def _login(self) -> SessionInfo:
        s = self.settings
        payload: dict[str, Any] = {
            "service": "login",
            "username": s.username,
            "password": s.password,
            "appId": s.app_id,
        }
        if s.has_login_context:
            payload.update(COMPANY=s.company, BRANCH=s.branch, MODULE=s.module, REFID=s.refid)
        answer = await self._exchange("login", payload, None)
        client_id = required_str(answer, "clientID", "login")
        objs = get_ci(answer, "objs") or []
        version, serial = opt_str(get_ci(answer, "ver")), opt_str(get_ci(answer, "sn"))
        if s.has_login_context and not objs:
            log.info(
                "logged in to %s as %s (one-step, company %s)",
                self._display_url,
                s.username,
                s.company,
                extra={"action": "softone.login"},
            )
            return SessionInfo(
                client_id, s.company, s.branch, s.module, s.refid, version=version, serial=serial
            )
        context = self._choose_context(objs)
        answer = await self._exchange(
            "authenticate",
            {
                "service": "authenticate",
                "clientID": client_id,
                "COMPANY": context.get("COMPANY", ""),
                "BRANCH": context.get("BRANCH", ""),
                "MODULE": context.get("MODULE", ""),
                "REFID": context.get("REFID", ""),
            },
            client_id,
        )
        session = SessionInfo(
            required_str(answer, "clientID", "authenticate"),
            context.get("COMPANY"),
            context.get("BRANCH"),
            context.get("MODULE"),
            context.get("REFID"),
            company_name=context.get("COMPANYNAME"),
            branch_name=context.get("BRANCHNAME"),
            user_id=context.get("USERID"),
            version=version,
            serial=serial,
        )
        log.info(
            "logged in to %s as %s (company %s, branch %s)",
            self._display_url,
            s.username,
            session.company,
            session.branch,
            extra={"action": "softone.login"},
        )
        return session

    def _choose_context(self, objs: Any) -> dict[str, str]:
        """The login ``objs`` entry to authenticate with: the configured ids, or the first entry."""
        if not isinstance(objs, list) or not objs:
            raise ProtocolError(
                "login returned no company/branch list (objs); set COMPANY, BRANCH, MODULE and REFID "
                "on the connection for a one-step login",
                service="login",
            )
        contexts = [{k.upper(): str(v) for k, v in o.items()} for o in objs if isinstance(o, Mapping)]
        s = self.settings
        wanted = {
            k: v
            for k, v in (
                ("COMPANY", s.company),
                ("BRANCH", s.branch),
                ("MODULE", s.module),
                ("REFID", s.refid),
            )
            if v
        }
        for context in contexts:
            if all(context.get(k) == v for k, v in wanted.items()):
                return context
        available = ", ".join(
            "/".join(c.get(k, "?") for k in ("COMPANY", "BRANCH", "MODULE", "REFID")) for c in contexts
        )
        raise AuthenticateFailed(
            f"no login context matches {wanted}; "
            f"the web account offers COMPANY/BRANCH/MODULE/REFID = {available}",
            service="login",
        )

    # ------------------------------------------------------------------ calls

    async def call(self, service: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call any service with the session's clientID and appId; return the successful answer."""
        return await self._call(service, params or {})

    async def _call(
        self,
        service: str,
        params: Mapping[str, Any],
        *,
        idempotent: bool = True,
        replay_done: type[SoftOneError] | None = None,
    ) -> dict[str, Any]:
        session = await self._current_session()
        try:
            return await self._exchange(
                service, self._payload(service, params, session), session.client_id, idempotent, replay_done
            )
        except SoftOneError as exc:
            if not exc.relogin:
                raise
            log.info(
                "%s: session rejected (errorcode %s); logging in again",
                service,
                exc.errorcode,
                extra={"action": "softone.relogin"},
            )
        session = await self._relogin(session)
        # Exactly one retry: a second session error is raised to the caller.
        return await self._exchange(
            service, self._payload(service, params, session), session.client_id, idempotent, replay_done
        )

    def _payload(self, service: str, params: Mapping[str, Any], session: SessionInfo) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "service": service,
            "clientID": session.client_id,
            "appId": self.settings.app_id,
        }
        payload.update(params)
        return payload

    async def _exchange(
        self,
        service: str,
        payload: Mapping[str, Any],
        client_id: str | None,
        idempotent: bool = True,
        replay_done: type[SoftOneError] | None = None,
    ) -> dict[str, Any]:
        """Send, then turn ``success:false`` into its typed error; count a success for the login cap.

        ``replay_done``: an error that, when it answers a transport *retry*, means the lost first
        attempt already did the work (a re-sent delete finds nothing to delete).
        """
        started = time.perf_counter()
        try:
            answer, attempts = await self._send(service, payload, idempotent=idempotent)
        except SoftOneError:
            _notify_observers(service, time.perf_counter() - started, "transport")  # no ERP errorcode
            raise
        try:
            checked = check_envelope(service, answer, client_id)
        except SoftOneError as exc:
            _notify_observers(service, time.perf_counter() - started, exc.errorcode)
            if replay_done is None or attempts == 1 or not isinstance(exc, replay_done):
                raise
            log.info("%s: the retried request found its work already done", service)
            checked = answer
        _notify_observers(service, time.perf_counter() - started, None)
        if service != "login" and service != "authenticate":
            self._relogins_since_success = 0
        return checked

    async def _send(
        self, service: str, payload: Mapping[str, Any], *, idempotent: bool
    ) -> tuple[dict[str, Any], int]:
        """POST with bounded retries; returns the parsed answer and how many attempts it took."""
        body = encode_body(payload)
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            reason, retry_safe = await self._attempt(service, body, idempotent)
            if isinstance(reason, dict):
                return reason, attempt
            if not retry_safe:
                raise OutcomeUnknown(
                    f"{reason}; the request may have been processed, so it was not retried", service=service
                )
            if attempt == attempts:
                raise TransportError(f"{reason} (gave up after {attempts} attempts)", service=service)
            delay = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: concurrent callers must not retry in lockstep
            log.warning(
                "%s: %s; retrying in %.2fs (attempt %d of %d)",
                service,
                reason,
                delay,
                attempt + 1,
                attempts,
                extra={"action": "softone.retry"},
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, service: str, body: bytes, idempotent: bool
    ) -> tuple[dict[str, Any] | str, bool]:
        """One POST. Returns (answer, _) or (failure reason, whether retrying is safe)."""
        try:
            async with self._semaphore:
                response = await self._http.post(self._url, content=body)
        except _NOT_SENT as exc:
            return f"cannot connect to {self._display_url}: {_describe(exc)}", True
        except httpx.TimeoutException as exc:
            return (
                f"no answer from {self._display_url} within {self.settings.timeout:g}s ({_describe(exc)})",
                idempotent,
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            return f"connection to {self._display_url} failed: {_describe(exc)}", idempotent
        status = response.status_code
        if status >= 500 or status in _RETRYABLE_STATUS:
            return f"HTTP {status} from {self._display_url}", idempotent
        if not 200 <= status < 300:
            raise TransportError(
                f"HTTP {status} from {self._display_url}; check that the URL ends in /s1services"
                f"{_snippet(response)}",
                service=service,
            )
        try:
            return parse_body(response.content, response.headers.get("content-type")), True
        except BodyNotJson as exc:
            return f"the answer is not SoftOne JSON: {exc}{_snippet(response)}", idempotent

    # ------------------------------------------------------------------ metadata

    async def get_objects(self) -> list[dict[str, Any]]:
        return list_of(await self._call("getObjects", {}), "objects", "getObjects")

    async def get_object_tables(self, obj: str) -> list[dict[str, Any]]:
        return list_of(await self._call("getObjectTables", {"OBJECT": obj}), "tables", "getObjectTables")

    async def get_table_fields(self, obj: str, table: str) -> list[dict[str, Any]]:
        answer = await self._call("getTableFields", {"OBJECT": obj, "TABLE": table})
        return list_of(answer, "fields", "getTableFields")

    # ------------------------------------------------------------------ browsers

    async def get_browser_info(self, obj: str, list_name: str = "", filters: str = "") -> BrowserInfo:
        answer = await self._call("getBrowserInfo", {"OBJECT": obj, "LIST": list_name, "FILTERS": filters})
        return BrowserInfo.from_answer(answer)

    async def get_browser_page(self, info: BrowserInfo, start: int, limit: int) -> BrowserPage:
        answer = await self._call("getBrowserData", {"reqID": info.req_id, "start": start, "limit": limit})
        return page_from_answer(answer, info, start)

    def browse(
        self,
        obj: str,
        list_name: str = "",
        filters: str = "",
        *,
        page_size: int = 1000,
        prefetch: bool = True,
    ) -> AsyncIterator[BrowserPage]:
        """Every page of a browser, in order; an expired reqID is re-queried at the same offset."""

        async def fetch_info() -> BrowserInfo:
            return await self.get_browser_info(obj, list_name, filters)

        return iterate_pages(fetch_info, self.get_browser_page, page_size=page_size, prefetch=prefetch)

    # ------------------------------------------------------------------ records

    async def get_data(
        self, obj: str, key: str | int, *, locate_info: str | None = None, form: str = ""
    ) -> dict[str, list[dict[str, str]]]:
        params: dict[str, Any] = {"OBJECT": obj, "FORM": form, "KEY": str(key)}
        if locate_info:
            params["LOCATEINFO"] = locate_info
        return data_of(await self._call("getData", params), "getData")

    async def set_data(
        self,
        obj: str,
        data: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        key: str | int | None = None,
        locate_info: str | None = None,
    ) -> SetDataResult:
        """Insert (no key) or update (key) a record; returns the record id as a string.

        An insert whose answer is lost raises ``OutcomeUnknown`` instead of being re-sent.
        """
        key_text = "" if key is None else str(key)
        params = self._record_params(obj, key_text, data, locate_info)
        idempotent = bool(key_text) and not _adds_lines(params["data"])
        answer = await self._call("setData", params, idempotent=idempotent)
        record_id = get_ci(answer, "id")
        if record_id in (None, ""):
            if not key_text:
                raise ProtocolError("the insert succeeded but the answer carries no id", service="setData")
            record_id = key_text
        return SetDataResult(id=str(record_id), message=opt_str(get_ci(answer, "message")))

    async def del_data(self, obj: str, key: str | int, *, form: str = "") -> None:
        # A delete whose answer was lost gets re-sent and then finds nothing: that is success.
        await self._call("delData", {"OBJECT": obj, "FORM": form, "KEY": str(key)}, replay_done=DataNotFound)

    async def calculate(
        self,
        obj: str,
        data: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        key: str | int | None = None,
        locate_info: str | None = None,
    ) -> dict[str, list[dict[str, str]]]:
        """Like setData but nothing is saved: the record as SoftOne would compute it."""
        params = self._record_params(obj, "" if key is None else str(key), data, locate_info)
        return data_of(await self._call("calculate", params), "calculate")

    def _record_params(
        self,
        obj: str,
        key_text: str,
        data: Mapping[str, Sequence[Mapping[str, Any]]],
        locate_info: str | None,
    ) -> dict[str, Any]:
        """The request of setData and calculate: object, key ("" for a new record), outgoing data."""
        params: dict[str, Any] = {"OBJECT": obj, "KEY": key_text, "data": self._outgoing(data)}
        if locate_info:
            params["LOCATEINFO"] = locate_info
        return params

    def _outgoing(self, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """Validate the ``{TABLE: [row, ...]}`` shape and render values the way SoftOne stores them."""
        if not isinstance(data, Mapping):
            raise ValueError("data must be a mapping of table name to a list of rows")
        out: dict[str, list[dict[str, Any]]] = {}
        for table, rows in data.items():
            if isinstance(rows, (Mapping, str)) or not isinstance(rows, Sequence):
                raise ValueError(f"data[{table!r}] must be a list of rows (dicts), got {type(rows).__name__}")
            rendered = []
            for index, row in enumerate(rows):
                if not isinstance(row, Mapping):
                    raise ValueError(f"data[{table!r}][{index}] must be a dict, got {type(row).__name__}")
                try:
                    rendered.append({name: from_python(value, self._tz) for name, value in row.items()})
                except ConversionError as exc:
                    raise ValueError(f"data[{table!r}][{index}]: {exc}") from None
            out[table] = rendered
        return out

    # ------------------------------------------------------------------ lookups

    async def sql_data(self, sql_name: str, params: Mapping[str, str] | None = None) -> SqlDataResult:
        """Run a stored S1 SQL script; rows keep the script's own column aliases."""
        answer = await self._call("SqlData", {"SqlName": sql_name, **(params or {})})
        rows = get_ci(answer, "rows") or []
        if not isinstance(rows, list):
            raise ProtocolError("rows is not a list", service="SqlData")
        total = get_ci(answer, "totalcount")
        return SqlDataResult(rows=rows, totalcount=len(rows) if total in (None, "") else int(total))

    async def selector_fields(
        self, table_name: str, key_name: str, key_value: str | int, result_fields: str | Sequence[str]
    ) -> list[dict[str, str]]:
        fields = result_fields if isinstance(result_fields, str) else ",".join(result_fields)
        answer = await self._call(
            "selectorFields",
            {
                "TABLENAME": table_name,
                "KEYNAME": key_name,
                "KEYVALUE": str(key_value),
                "RESULTFIELDS": fields,
            },
        )
        return list_of(answer, "rows", "selectorFields")


# ---------------------------------------------------------------------- helpers


def _adds_lines(data: Mapping[str, list[dict[str, Any]]]) -> bool:
    """Whether a setData adds detail lines (LINENUM ≥ 9000001): replaying it would add them twice."""
    for rows in data.values():
        for row in rows:
            number = get_ci(row, "LINENUM")
            if number not in (None, ""):
                try:
                    if int(number) >= NEW_LINE_NUMBER:
                        return True
                except ValueError:
                    return True
    return False


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _snippet(response: httpx.Response) -> str:
    """The start of a non-JSON page (IIS error, ping banner) — never of a JSON answer, which may
    carry a clientID."""
    content = response.content[:200]
    if not content or content.lstrip()[:1] in (b"{", b"["):
        return ""
    text = " ".join(decode_text(content, response.headers.get("content-type")).split())
    return f" — the server said: {text[:160]!r}"
