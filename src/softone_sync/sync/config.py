"""``configJson`` of an integration, validated: what to read from SoftOne and where to write it.

The JSON keys are camelCase (``uniqueIdentifiers``, ``cursorField``) because operators' runbooks
and the seed application use them; Python code reads the snake_case attributes. Validation
failures become one :class:`IntegrationConfigError` whose lines each name a field path
(``mappings[2].convert: …``), never a pydantic traceback.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

Convert = Literal["string", "strip", "upper", "lower", "int", "decimal", "bool", "date", "datetime"]

# The name under which a mapping reads the ERP record id (the part after the last ';' of ZOOMINFO).
RECORD_KEY_FIELD = "$key"

DEFAULT_PAGE_SIZE = 1000
DEFAULT_LOOKBACK = timedelta(days=1)
DEFAULT_CURSOR_PARAM = "pCursor"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])", re.IGNORECASE)
_DURATION_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


class IntegrationConfigError(ValueError):
    """``configJson`` is invalid; ``problems`` holds one ``path: message`` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configJson: " + "; ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {value!r} (e.g. 'Europe/Athens')") from None
    return value


def parse_duration(value: object) -> timedelta:
    """``"1d"``, ``"12h"``, ``"1d12h"``, ``"30m"``, an ISO ``"P1D"``/``"PT6H"``, or seconds as a number."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '1d', '12h' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        iso = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text, re.IGNORECASE)
        if iso and any(iso.groups()):
            days, hours, minutes, secs = (int(g or 0) for g in iso.groups())
            seconds = days * 86400.0 + hours * 3600 + minutes * 60 + secs
        elif text and _DURATION_PART.sub("", text).strip() == "":
            seconds = sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in _DURATION_PART.findall(text))
        elif re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            raise ValueError(f"{value!r} is not a duration (use e.g. '1d', '12h', '30m', 'P1D' or seconds)")
    else:
        raise ValueError("expected a duration such as '1d', '12h' or a number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


class SourceConfig(_Model):
    """A SoftOne browser (``object`` + ``list`` + ``filters``) or a stored SQL script (``sqlName``)."""

    object_: str | None = Field(default=None, alias="object")
    list_: str = Field(default="", alias="list")
    filters: str = ""
    sql_name: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=100_000)

    @field_validator("params", mode="before")
    @classmethod
    def _params_as_strings(cls, value: object) -> object:
        # SoftOne parameters are strings on the wire; accept JSON numbers for convenience.
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if bool(self.object_) == bool(self.sql_name):
            raise ValueError("give either 'object' (a SoftOne browser) or 'sqlName' (a stored SQL script)")
        if self.sql_name and (self.list_ or self.filters):
            raise ValueError("'list' and 'filters' apply to browser sources, not to an 'sqlName' script")
        if self.object_ and self.params:
            raise ValueError("'params' apply to 'sqlName' scripts; a browser takes 'filters'")
        return self

    @property
    def is_browser(self) -> bool:
        return self.object_ is not None

    def describe(self) -> str:
        if self.object_:
            return f"browser {self.object_}/{self.list_ or '(default list)'}"
        return f"SqlData {self.sql_name}"


class Mapping(_Model):
    """One target column, filled from an ERP field (converted) or from a constant."""

    erp_field: str | None = None
    column: str = Field(min_length=1)
    convert: Convert = "string"
    required: bool = False
    default: Any = None
    constant: Any = None

    @model_validator(mode="after")
    def _source_of_value(self) -> Mapping:
        has_constant = "constant" in self.model_fields_set
        if bool(self.erp_field) == has_constant:
            raise ValueError("give either 'erpField' or 'constant'")
        return self


class TargetConfig(_Model):
    table: str = Field(min_length=1)
    schema_: str | None = Field(default=None, alias="schema")


class DeletionsConfig(_Model):
    """What a full run does with target rows this integration wrote that the ERP no longer has."""

    mode: Literal["ignore", "soft", "hard"] = "ignore"
    column: str | None = None
    value: Any = True
    # Written back when a soft-deleted row reappears in the ERP (only if the column is not mapped).
    restore_value: Any = None

    @model_validator(mode="after")
    def _soft_needs_column(self) -> DeletionsConfig:
        if self.mode == "soft" and not self.column:
            raise ValueError("soft deletions need 'column' (and 'value', default true) to mark deleted rows")
        return self


class GuardConfig(_Model):
    """Stop a run that would update or delete more than this share of the target's rows."""

    max_change_percent: float = Field(gt=0, le=100)


ConflictPolicy = Literal["erp-wins", "app-wins", "newest-wins", "manual"]
FieldOwner = Literal["erp", "app", "both"]


class TwoWayConfig(_Model):
    """How the application's changes go back to SoftOne (used when ``direction`` is ``two-way``).

    ``conflictPolicy`` decides a field changed on both sides since the last sync; ``fieldPolicies``
    overrides it per target column. ``ownership`` says who may change a column: ``erp`` columns are
    never pushed, ``app`` columns always win, ``both`` (default) follow the conflict policy.
    ``deletions`` is what a row deleted in the application does in the ERP: ``ignore`` (default) or
    ``delete`` (delData). ``lookupList`` is the browser list used to find a record by its unique
    identifier before a create is (re)sent (default: the source list; it must expose the
    identifier's filter). ``updatedField`` is the ERP's change stamp that ``newest-wins`` compares.
    """

    conflict_policy: ConflictPolicy = "erp-wins"
    field_policies: dict[str, ConflictPolicy] = Field(default_factory=dict)
    ownership: dict[str, FieldOwner] = Field(default_factory=dict)
    deletions: Literal["ignore", "delete"] = "ignore"
    lookup_list: str | None = None
    updated_field: str = "UPDDATE"
    batch_size: int = Field(default=200, ge=1, le=10_000)


class ScheduleConfig(BaseModel):
    """Carried for the scheduler, which validates the cron expression itself."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    cron_expression: str | None = None
    timezone: str | None = None


class IntegrationConfig(_Model):
    # The seed stores more than the engine reads; unknown top-level keys are kept, not rejected.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", str_strip_whitespace=True
    )

    source: SourceConfig
    mappings: list[Mapping] = Field(min_length=1)
    unique_identifiers: list[str] = Field(min_length=1)
    target: TargetConfig
    mode: Literal["full", "incremental"] = "full"
    cursor_field: str | None = None
    lookback: timedelta = DEFAULT_LOOKBACK
    cursor_param: str = DEFAULT_CURSOR_PARAM
    deletions: DeletionsConfig = Field(default_factory=DeletionsConfig)
    guard: GuardConfig | None = None
    schedule: ScheduleConfig | None = None
    direction: Literal["one-way", "two-way"] = "one-way"
    two_way: TwoWayConfig = Field(default_factory=TwoWayConfig)
    erp_timezone: str | None = None

    @field_validator("unique_identifiers", mode="before")
    @classmethod
    def _one_identifier_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("lookback", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("deletions", mode="before")
    @classmethod
    def _deletions_shorthand(cls, value: object) -> object:
        return {"mode": value} if isinstance(value, str) else value

    @field_validator("erp_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _consistent(self) -> IntegrationConfig:
        columns = [m.column for m in self.mappings]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise ValueError(f"mappings: column(s) {', '.join(dupes)} mapped more than once")
        for ident in self.unique_identifiers:
            self.key_mapping(ident)  # raises a precise ValueError when not mapped
        if self.mode == "incremental" and not self.cursor_field:
            raise ValueError("mode 'incremental' needs 'cursorField' (e.g. 'UPDDATE')")
        if self.deletions.mode == "soft" and self.deletions.column in {
            self.key_mapping(i).column for i in self.unique_identifiers
        }:
            raise ValueError("deletions.column cannot be a unique-identifier column")
        self._check_two_way(set(columns))
        return self

    def _check_two_way(self, columns: set[str]) -> None:
        for name, mapping in (
            ("fieldPolicies", self.two_way.field_policies),
            ("ownership", self.two_way.ownership),
        ):
            unknown = sorted(set(mapping) - columns)
            if unknown:
                raise ValueError(f"twoWay.{name}: {', '.join(unknown)} is not a mapped column")
        if self.direction != "two-way":
            return
        if not self.source.is_browser:
            raise ValueError(
                "direction 'two-way' needs a browser source ('object'): setData writes to an object"
            )
        if self.record_key_column is None:
            raise ValueError(
                "direction 'two-way' needs a mapping of erpField '$key' (the ERP record id) to a column, "
                "where records created from the application get their ERP id"
            )

    @property
    def record_key_column(self) -> str | None:
        """The target column that holds the ERP record id (the mapping of ``$key``), if any."""
        for m in self.mappings:
            if m.erp_field and m.erp_field.strip().lower() == RECORD_KEY_FIELD:
                return m.column
        return None

    def key_mapping(self, identifier: str) -> Mapping:
        """The mapping that carries a unique identifier: same erpField, or the bare name when unambiguous."""
        wanted = identifier.strip().upper()
        exact = [m for m in self.mappings if m.erp_field and m.erp_field.upper() == wanted]
        if not exact:
            bare = wanted.rsplit(".", 1)[-1]
            exact = [
                m
                for m in self.mappings
                if m.erp_field and m.erp_field.upper().rsplit(".", 1)[-1] == bare and "." not in wanted
            ] or [m for m in self.mappings if m.erp_field and m.erp_field.upper() == bare]
        if not exact:
            raise ValueError(
                f"uniqueIdentifiers: {identifier!r} is not mapped (add a mapping with that erpField)"
            )
        if len(exact) > 1:
            cols = ", ".join(m.column for m in exact)
            raise ValueError(f"uniqueIdentifiers: {identifier!r} is mapped to several columns ({cols})")
        return exact[0]

    @property
    def key_columns(self) -> list[str]:
        return [self.key_mapping(i).column for i in self.unique_identifiers]

    @property
    def columns(self) -> list[str]:
        """Target columns a page writes, in row-tuple order (mapped columns, then a soft-delete restore)."""
        cols = [m.column for m in self.mappings]
        if self.restores_soft_delete:
            assert self.deletions.column is not None
            cols.append(self.deletions.column)
        return cols

    @property
    def restores_soft_delete(self) -> bool:
        d = self.deletions
        return (
            d.mode == "soft"
            and d.restore_value is not None
            and d.column is not None
            and d.column not in {m.column for m in self.mappings}
        )


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"function-after[_consistent()]"} or str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            path += ("." if path else "") + str(part)
    return path


def format_validation_error(exc: ValidationError) -> list[str]:
    """One ``path: message`` line per error, with the camelCase JSON path the operator wrote."""
    lines = []
    for err in exc.errors():
        path = _format_loc(tuple(err["loc"]))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif err["type"] == "missing":
            message = "required"
        elif err["type"] == "literal_error":
            message += f" (got {err['input']!r})"
        lines.append(f"{path}: {message}" if path else message)
    return lines


def parse_integration_config(raw: object) -> IntegrationConfig:
    """Validate a ``configJson`` value (a dict, or a JSON string as some seeds store it)."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise IntegrationConfigError([f"configJson is not valid JSON ({exc})"]) from None
    if not isinstance(raw, dict):
        raise IntegrationConfigError([f"configJson must be a JSON object, got {type(raw).__name__}"])
    try:
        return IntegrationConfig.model_validate(raw)
    except ValidationError as exc:
        raise IntegrationConfigError(format_validation_error(exc)) from None
