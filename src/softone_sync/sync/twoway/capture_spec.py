"""Names and facts the per-dialect capture SQL is generated from (no SQL here).

Trigger and function names are derived from the integration id. Ids are uuid hex as the service
creates them; anything else that is not plain ``[A-Za-z0-9_]`` is refused rather than escaped, so
no configuration text ever becomes part of an identifier or a literal unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_SAFE_ID = re.compile(r"[A-Za-z0-9_]{1,40}")
PREFIX = "softone_sync_capture_"


class CaptureError(Exception):
    """Capture cannot be installed or removed as asked; the message says why and what to do."""


def sql_string(text: str) -> str:
    """A SQL string literal (standard quoting: '' for a quote)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class CaptureNames:
    integration_id: str
    trigger: str
    function: str

    @classmethod
    def of(cls, integration_id: str) -> CaptureNames:
        if not _SAFE_ID.fullmatch(integration_id):
            raise CaptureError(
                f"integration id {integration_id!r} is not usable in trigger names "
                "(expected letters, digits and '_', at most 40)"
            )
        slug = integration_id.lower()
        return cls(integration_id, f"{PREFIX}{slug}", f"{PREFIX}{slug}_fn")

    def sqlite_triggers(self) -> tuple[str, str, str]:
        return (f"{self.trigger}_ins", f"{self.trigger}_upd", f"{self.trigger}_del")


@dataclass(frozen=True)
class CaptureSpec:
    """The captured table: its key, the ERP-id column and the columns whose changes matter."""

    schema: str | None
    table: str
    pk_columns: Sequence[str]
    erp_id_column: str
    watched: Sequence[str] = field(default_factory=list)

    def table_sql(self, quote: Callable[[str], str]) -> str:
        name = quote(self.table)
        return f"{quote(self.schema)}.{name}" if self.schema else name
