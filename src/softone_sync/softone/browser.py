"""Browsers (saved list views): getBrowserInfo metadata, getBrowserData pages, the page iterator.

getBrowserInfo runs the list on the server and caches the result under a ``reqID``;
getBrowserData slices it by ``start``/``limit``. Rows are positional arrays of strings in the
order of ``fields``, ZOOMINFO (``OBJECT;id``) first. The reqID expires (errors 13/213/102); the
iterator then runs getBrowserInfo again and resumes at the same offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .codec import get_ci
from .errors import ProtocolError, RequestExpired

log = logging.getLogger("softone_sync.softone.browser")

ZOOMINFO = "ZOOMINFO"

# An expired reqID is re-queried this many times in a row before giving up: a server that
# forgets every reqID at once would otherwise loop forever.
MAX_REQUERIES_PER_PAGE = 3


@dataclass(frozen=True)
class BrowserInfo:
    """What getBrowserInfo answered: the cached result's reqID, size and layout."""

    req_id: str
    totalcount: int
    fields: list[str]
    columns: list[dict[str, Any]]
    field_types: list[str] = field(default_factory=list)

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any], *, service: str = "getBrowserInfo") -> BrowserInfo:
        req_id = get_ci(answer, "reqID")
        raw_fields = get_ci(answer, "fields")
        if req_id in (None, "") or not isinstance(raw_fields, list):
            raise ProtocolError("the answer has no reqID or no fields list", service=service)
        names: list[str] = []
        types: list[str] = []
        for item in raw_fields:
            if isinstance(item, Mapping):
                names.append(str(get_ci(item, "name", "")))
                types.append(str(get_ci(item, "type", "")))
            else:  # tolerate a bare list of names
                names.append(str(item))
                types.append("")
        columns = get_ci(answer, "columns") or []
        return cls(
            req_id=str(req_id),
            totalcount=_as_count(get_ci(answer, "totalcount"), service),
            fields=names,
            columns=[dict(c) for c in columns if isinstance(c, Mapping)],
            field_types=types,
        )


@dataclass(frozen=True)
class BrowserPage:
    """One getBrowserData slice. ``rows`` are kept positional: the sync engine's fast path."""

    fields: list[str]
    rows: list[list[str]]
    start: int
    totalcount: int

    def keys(self) -> list[str]:
        """The record id of each row: the part of ZOOMINFO after its last ``;``."""
        return [row[0].rpartition(";")[2] for row in self.rows]

    def records(self) -> list[dict[str, str]]:
        """Rows as dicts keyed by field name (ZOOMINFO included)."""
        fields = self.fields
        return [dict(zip(fields, row, strict=True)) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


def _as_count(value: Any, service: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"totalcount {value!r} is not a number", service=service) from None


def page_from_answer(answer: Mapping[str, Any], info: BrowserInfo, start: int) -> BrowserPage:
    """Validate one getBrowserData answer against its BrowserInfo."""
    rows = get_ci(answer, "rows")
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise ProtocolError("rows is not a list", service="getBrowserData")
    width = len(info.fields)
    # One len() per row: cheap, and a mis-shaped row would silently shift every column after it.
    if any(len(row) != width for row in rows):
        bad = next(i for i, row in enumerate(rows) if len(row) != width)
        raise ProtocolError(
            f"row {start + bad} has {len(rows[bad])} values but the browser has {width} fields",
            service="getBrowserData",
        )
    total = get_ci(answer, "totalcount")
    return BrowserPage(
        fields=info.fields,
        rows=rows,
        start=start,
        totalcount=info.totalcount if total is None else _as_count(total, "getBrowserData"),
    )


FetchInfo = Callable[[], Awaitable[BrowserInfo]]
FetchPage = Callable[[BrowserInfo, int, int], Awaitable[BrowserPage]]


async def iterate_pages(
    fetch_info: FetchInfo, fetch_page: FetchPage, *, page_size: int, prefetch: bool = True
) -> AsyncIterator[BrowserPage]:
    """Yield every page of a browser, re-querying an expired reqID and resuming at the same offset.

    With ``prefetch`` the next page is requested while the consumer handles the current one
    (at most one page ahead), overlapping network time with the consumer's CPU time.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    info = await fetch_info()
    state = _PageFetcher(fetch_info, fetch_page, info, page_size)
    start, total = 0, info.totalcount
    pending: asyncio.Task[BrowserPage] | None = None
    try:
        while start < total:
            page = await pending if pending is not None else await state.fetch(start)
            pending = None
            if not page.rows:
                # The result shrank under us (a re-query after expiry saw fewer rows): we are done.
                return
            start += len(page.rows)
            total = page.totalcount
            if prefetch and start < total:
                pending = asyncio.ensure_future(state.fetch(start))
            yield page
    finally:
        if pending is not None:
            # Not awaited: the generator may be closing because its own task is being cancelled.
            pending.cancel()
            pending.add_done_callback(_discard_outcome)


def _discard_outcome(task: asyncio.Task[BrowserPage]) -> None:
    if not task.cancelled():
        task.exception()  # mark retrieved so asyncio does not log "never retrieved"


class _PageFetcher:
    """Fetches one page, transparently replacing an expired reqID with a fresh one."""

    def __init__(self, fetch_info: FetchInfo, fetch_page: FetchPage, info: BrowserInfo, page_size: int):
        self._fetch_info = fetch_info
        self._fetch_page = fetch_page
        self.info = info
        self._page_size = page_size

    async def fetch(self, start: int) -> BrowserPage:
        for attempt in range(MAX_REQUERIES_PER_PAGE + 1):
            info = self.info
            try:
                return await self._fetch_page(info, start, self._page_size)
            except RequestExpired:
                if attempt == MAX_REQUERIES_PER_PAGE:
                    raise
                log.info(
                    "browser reqID expired at row %d; running getBrowserInfo again",
                    start,
                    extra={"action": "softone.browse.requery"},
                )
                fresh = await self._fetch_info()
                if fresh.fields != info.fields:
                    raise ProtocolError(
                        "the browser's fields changed between pages; restart the scan",
                        service="getBrowserInfo",
                    ) from None
                self.info = fresh
        raise AssertionError("unreachable")  # pragma: no cover
