"""The ERP side of a push: read one record, find one by its identifier, and write changes back.

Values go out as Python values; the client renders them the way SoftOne stores them
(:func:`softone_sync.softone.convert.from_python`: ``.`` decimals, ``yyyy-mm-dd hh:mm:ss`` in the
ERP's time zone, ``0``/``1`` flags). Text is checked against windows-1253 *before* sending: SoftOne
would silently turn a character it cannot store into ``?``, so such a record is rejected instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from softone_sync.softone import convert as cv
from softone_sync.softone.client import SoftOneClient
from softone_sync.softone.errors import DataNotFound
from softone_sync.sync.mapping import FieldResolutionError, RowMapper, converter_for, resolve_field
from softone_sync.sync.twoway.layout import TwoWayLayout

ERP_CODEPAGE = "cp1253"
# Characters that SoftOne's browser filter syntax cannot carry inside a value.
_FILTER_UNSAFE = ("&", ",")


class PushRejected(Exception):
    """This record cannot be sent as it is; the message is kept in sync_rejects for the operator."""


@dataclass(frozen=True)
class ErpRecord:
    erp_id: str
    values: dict[str, Any]  # typed, by target column (as the pull would write them)
    normalized: dict[str, Any]
    updated_at: datetime | None


def check_codepage(column: str, value: Any) -> None:
    """Raise :class:`PushRejected` when ``value`` holds a character SoftOne cannot store."""
    if not isinstance(value, str):
        return
    try:
        value.encode(ERP_CODEPAGE)
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        raise PushRejected(
            f"{column}: character {bad!r} (U+{ord(bad):04X}) cannot be stored by SoftOne "
            f"(windows-1253); change the value in the application"
        ) from None


class ErpSide:
    def __init__(self, client: SoftOneClient, layout: TwoWayLayout, erp_timezone: str) -> None:
        self.client = client
        self.layout = layout
        self.config = layout.config
        self.erp_timezone = erp_timezone
        self.zone = cv.timezone_of(erp_timezone)

    # -- reading ----------------------------------------------------------------------------------

    async def fetch(self, erp_id: str) -> ErpRecord | None:
        """The record as the pull would map it, or None when the ERP no longer has it."""
        try:
            data = await self.client.get_data(self.layout.object_, erp_id)
        except DataNotFound:
            return None
        # Without LOCATEINFO getData answers every table of the object, detail tables (CUSBRANCH,
        # ITELINES) included: only the tables the mapping reads make up the record, or a bare
        # erpField such as NAME would be ambiguous (CUSTOMER.NAME, CUSBRANCH.NAME).
        tables = {self.layout.object_, *(target.table for target in self.layout.erp_fields.values())}
        updated_table, dot, _ = self.config.two_way.updated_field.strip().upper().rpartition(".")
        if dot:
            tables.add(updated_table)
        fields: list[str] = []
        row: list[str] = []
        for alias, rows in data.items():
            if not rows or alias.upper() not in tables:
                continue
            for name, value in rows[0].items():
                fields.append(f"{alias.upper()}.{name.upper()}")
                row.append("" if value is None else str(value))
        mapper = RowMapper(self.config, erp_timezone=self.erp_timezone, has_record_id=True)
        try:
            mapped = mapper.map_page(fields, [row], [erp_id])
        except FieldResolutionError as exc:
            raise PushRejected(f"the ERP record {erp_id} cannot be read: {exc}") from None
        if mapped.rejects:
            raise PushRejected(f"the ERP record {erp_id} cannot be read: {mapped.rejects[0].reason}")
        values = dict(zip(self.config.columns, mapped.rows[0], strict=True))
        stamp = self._updated_at(fields, row)
        return ErpRecord(erp_id, values, self.layout.normalize(values), stamp)

    def _updated_at(self, fields: Sequence[str], row: Sequence[str]) -> datetime | None:
        try:
            position = resolve_field(self.config.two_way.updated_field, fields, has_record_id=False)
            return cv.to_datetime(row[position], self.zone)
        except (FieldResolutionError, cv.ConversionError):
            return None

    async def lookup(self, local: Mapping[str, Any]) -> str | None:
        """The id of the ERP record carrying this row's unique identifier, or None.

        Used before every create (and after a create whose answer was lost), so that a retried
        create adopts the record the lost attempt made instead of making a second one.
        """
        filters = []
        checks: list[tuple[str, str, Any]] = []
        for identifier in self.config.unique_identifiers:
            mapping = self.config.key_mapping(identifier)
            assert mapping.erp_field is not None
            erp_field = mapping.erp_field.strip()
            qualified = erp_field if "." in erp_field else f"{self.layout.object_}.{erp_field}"
            text = cv.from_python(local[mapping.column], self.zone)
            if any(c in text for c in _FILTER_UNSAFE):
                raise PushRejected(
                    f"{mapping.column}: the identifier {text!r} contains '&' or ',', which a SoftOne "
                    "browser filter cannot express, so the record cannot be looked up before it is created"
                )
            filters.append(f"{qualified.upper()}={text}")
            checks.append((erp_field, mapping.convert, local[mapping.column]))
        list_name = self.config.two_way.lookup_list
        if list_name is None:
            list_name = self.config.source.list_
        info = await self.client.get_browser_info(self.layout.object_, list_name, "&".join(filters))
        if info.totalcount == 0:
            return None
        page = await self.client.get_browser_page(info, 0, min(info.totalcount, 50))
        for record_id, raw in zip(page.keys(), page.rows, strict=True):
            if all(self._same(page.fields, raw, *check) for check in checks):
                return record_id
        return None

    def _same(self, fields: Sequence[str], raw: Sequence[str], erp_field: str, kind: str, local: Any) -> bool:
        position = resolve_field(erp_field, fields, has_record_id=False)
        try:
            return bool(converter_for(kind, self.erp_timezone)(raw[position]) == local)
        except cv.ConversionError:
            return False

    # -- writing ----------------------------------------------------------------------------------

    def payload(self, local: Mapping[str, Any], columns: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """``{TABLE: [{FIELD: value}]}`` for setData, for the given (pushable) columns."""
        tables: dict[str, dict[str, Any]] = {}
        for column in columns:
            value = local.get(column)
            check_codepage(column, value)
            target = self.layout.erp_fields[column]
            tables.setdefault(target.table, {})[target.field] = value
        return {table: [values] for table, values in tables.items()}

    async def create(self, payload: Mapping[str, list[dict[str, Any]]]) -> str:
        return (await self.client.set_data(self.layout.object_, payload)).id

    async def update(self, erp_id: str, payload: Mapping[str, list[dict[str, Any]]]) -> None:
        await self.client.set_data(self.layout.object_, payload, key=erp_id)

    async def delete(self, erp_id: str) -> None:
        with contextlib.suppress(DataNotFound):  # already gone: what we wanted
            await self.client.del_data(self.layout.object_, erp_id)
