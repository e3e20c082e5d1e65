"""The ERP side of a run: pages of positional string rows from a browser or a stored SQL script.

Incremental runs ask SoftOne for rows changed since ``cursor − lookback``. SoftOne's browser date
filters are day-granular and a FROM without its ``_TO`` means "that day only", so both bounds are
always sent (ERP-local dates, ``_TO`` = today) and the exact cut is made client-side by the
mapper. SqlData scripts take the cutoff as a parameter (``cursorParam``) in SoftOne's
``yyyy-mm-dd hh:mm:ss`` ERP-local form; they return all rows at once, which are then handed on in
``pageSize`` slices so that the target still sees one transaction per page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from softone_sync.softone.client import SoftOneClient
from softone_sync.softone.convert import from_python, timezone_of
from softone_sync.sync.config import IntegrationConfig

# Sent as the cursor param when there is no cursor yet (first or --full run): "changed since ever".
SQL_CURSOR_FLOOR = "1900-01-01 00:00:00"


@dataclass(frozen=True)
class SourcePage:
    fields: list[str]
    rows: Sequence[Sequence[str]]
    record_ids: list[str] | None  # browser record ids (ZOOMINFO), None for SqlData
    start: int
    totalcount: int

    @property
    def is_last(self) -> bool:
        return self.start + len(self.rows) >= self.totalcount


def cursor_filter_field(config: IntegrationConfig) -> str:
    """``ALIAS.FIELD`` for the browser filter; a bare cursorField is qualified with the object name."""
    field = config.cursor_field or ""
    if "." in field or not config.source.object_:
        return field
    return f"{config.source.object_}.{field}"


def browser_filters(
    config: IntegrationConfig, since: datetime | None, *, erp_timezone: str, now: datetime
) -> str:
    """The configured filters plus, for an incremental window, ``F=<from date>&F_TO=<today>`` (ERP-local)."""
    filters = config.source.filters.strip().strip("&")
    if since is None:
        return filters
    zone = timezone_of(erp_timezone)
    field = cursor_filter_field(config)
    start, end = since.astimezone(zone).date().isoformat(), now.astimezone(zone).date().isoformat()
    window = f"{field}={start}&{field}_TO={end}"
    return f"{filters}&{window}" if filters else window


def sql_params(config: IntegrationConfig, since: datetime | None, *, erp_timezone: str) -> dict[str, str]:
    """The script's params; an incremental script always gets its cursor (a floor date on a full read)."""
    params = dict(config.source.params)
    if config.mode == "incremental":
        params[config.cursor_param] = (
            from_python(since, erp_timezone) if since is not None else SQL_CURSOR_FLOOR
        )
    return params


async def iter_pages(
    client: SoftOneClient,
    config: IntegrationConfig,
    *,
    since: datetime | None,
    erp_timezone: str,
    now: datetime,
) -> AsyncIterator[SourcePage]:
    """Every page of the integration's source, in ERP order (the client prefetches one page ahead)."""
    source = config.source
    if source.object_:
        filters = browser_filters(config, since, erp_timezone=erp_timezone, now=now)
        async for page in client.browse(source.object_, source.list_, filters, page_size=source.page_size):
            yield SourcePage(page.fields, page.rows, page.keys(), page.start, page.totalcount)
        return
    assert source.sql_name is not None
    result = await client.sql_data(source.sql_name, sql_params(config, since, erp_timezone=erp_timezone))
    records = result.rows
    fields = _fields_of(records)
    total = len(records)
    for start in range(0, total, source.page_size):
        chunk = records[start : start + source.page_size]
        rows = [[_as_text(r.get(f)) for f in fields] for r in chunk]
        yield SourcePage(fields, rows, None, start, total)


def _fields_of(records: Sequence[dict[str, str]]) -> list[str]:
    """Column aliases in the script's order; a row may omit a key another row has."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    return list(seen)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
