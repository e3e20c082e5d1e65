"""ERP rows → target tuples: every conversion, field matching, and what happens to bad rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from softone_sync.sync.config import parse_integration_config
from softone_sync.sync.mapping import FieldResolutionError, RowMapper, encode_record_key, resolve_field

FIELDS = [
    "ZOOMINFO",
    "CUSTOMER.CODE",
    "CUSTOMER.NAME",
    "CUSTOMER.UPDDATE",
    "CUSTOMER.BALANCE",
    "CUSEXTRA.CODE",
]


def mapper(mappings, keys=("CUSTOMER.CODE",), tz="Europe/Athens", **extra) -> RowMapper:
    config = parse_integration_config(
        {
            "source": {"object": "CUSTOMER"},
            "mappings": mappings,
            "uniqueIdentifiers": list(keys),
            "target": {"table": "t"},
            **extra,
        }
    )
    return RowMapper(config, erp_timezone=tz, has_record_id=True)


@pytest.mark.parametrize(
    ("convert", "raw", "expected"),
    [
        ("string", " Αθήνα ", " Αθήνα "),
        ("string", "", None),
        ("strip", "  C001  ", "C001"),
        ("strip", "   ", None),
        ("upper", "abc", "ABC"),
        ("lower", "ABC", "abc"),
        ("int", "42", 42),
        ("int", "5.00", 5),
        ("decimal", "8074.95", Decimal("8074.95")),
        ("bool", "1", True),
        ("bool", "0", False),
        ("date", "2024-03-01 00:00:00", date(2024, 3, 1)),
        ("date", "1899-12-30 00:00:00", None),
        ("datetime", "2024-07-01 15:30:00", datetime(2024, 7, 1, 12, 30, tzinfo=UTC)),
        ("datetime", "", None),
    ],
)
def test_each_conversion(convert, raw, expected):
    m = mapper(
        [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "NAME", "column": "v", "convert": convert},
        ]
    )
    page = m.map_page(FIELDS, [["CUSTOMER;1", "C1", raw, "", "", ""]], ["1"])
    assert page.rejects == []
    assert page.rows == [("C1", expected)]


def test_datetime_uses_the_erp_timezone_override():
    m = mapper(
        [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "UPDDATE", "column": "u", "convert": "datetime"},
        ],
        tz="UTC",
    )
    (row,) = m.map_page(FIELDS, [["CUSTOMER;1", "C1", "", "2024-07-01 15:30:00", "", ""]], ["1"]).rows
    assert row[1] == datetime(2024, 7, 1, 15, 30, tzinfo=UTC)
    assert row[1].tzinfo is not None and ZoneInfo("UTC")


def test_record_id_constant_and_default():
    m = mapper(
        [
            {"erpField": "$key", "column": "erp_id", "convert": "int"},
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "BALANCE", "column": "balance", "convert": "decimal", "default": "0"},
            {"column": "origin", "constant": "softone"},
        ],
        keys=("$key",),
    )
    page = m.map_page(FIELDS, [["CUSTOMER;77", "C1", "n", "", "", "x"]], ["77"])
    assert page.rows == [(77, "C1", Decimal("0"), "softone")]
    assert page.keys == [(77,)]


def test_bare_field_must_be_unambiguous():
    assert resolve_field("NAME", FIELDS, has_record_id=True) == 2
    assert resolve_field("customer.name", FIELDS, has_record_id=True) == 2
    with pytest.raises(FieldResolutionError, match="ambiguous"):
        resolve_field("CODE", FIELDS, has_record_id=True)
    with pytest.raises(FieldResolutionError, match="not a field of the source"):
        resolve_field("AFM", FIELDS, has_record_id=True)
    with pytest.raises(FieldResolutionError, match="no record id"):
        resolve_field("$key", ["CODE"], has_record_id=False)


def test_unresolvable_mapping_names_the_mapping():
    m = mapper([{"erpField": "CUSTOMER.CODE", "column": "code"}, {"erpField": "AFM", "column": "afm"}])
    with pytest.raises(FieldResolutionError, match=r"mappings\[1\]\.erpField 'AFM'"):
        m.map_page(FIELDS, [], [])


def test_bad_rows_are_rejected_with_reasons_and_keys():
    m = mapper(
        [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "BALANCE", "column": "balance", "convert": "decimal"},
            {"erpField": "NAME", "column": "name", "required": True},
        ]
    )
    rows = [
        ["CUSTOMER;1", "C1", "ok", "", "1,5", ""],  # bad decimal
        ["CUSTOMER;2", "", "ok", "", "1", ""],  # no key
        ["CUSTOMER;3", "C3", "", "", "1", ""],  # required but empty
        ["CUSTOMER;4", "C4", "ok", "", "2", ""],
        ["CUSTOMER;5", "C4", "dupe", "", "3", ""],  # duplicate key
    ]
    page = m.map_page(FIELDS, rows, ["1", "2", "3", "4", "5"])
    assert page.rows == [("C4", Decimal("2"), "ok")]
    reasons = {r.record_key: r.reason for r in page.rejects}
    assert "is not a decimal number" in reasons["C1"]
    assert reasons["$key:2"] == "unique identifier CUSTOMER.CODE is empty"
    assert "required but empty" in reasons["C3"]
    assert "duplicate" in reasons["C4"]
    # The key of a row rejected for another column is known: deletions must not remove it.
    assert {r.record_key: r.key for r in page.rejects}["C1"] == ("C1",)
    assert page.rejects[0].payload["CUSTOMER.BALANCE"] == "1,5"


def test_a_key_repeated_on_a_later_page_becomes_a_reject():
    # The mapper keeps no run-wide memory of keys (a million-row run would hold them all); the run
    # asks the writer which keys an earlier page wrote and the mapper turns those rows into rejects.
    m = mapper([{"erpField": "CUSTOMER.CODE", "column": "code"}, {"erpField": "NAME", "column": "name"}])
    rows = [["CUSTOMER;9", "C1", "again", "", "", ""], ["CUSTOMER;10", "C2", "new", "", "", ""]]
    page = m.map_page(FIELDS, rows, ["9", "10"])
    assert page.record_keys == ["C1", "C2"]
    m.reject_repeated(page, {"C1"})
    assert page.rows == [("C2", "new")] and page.record_keys == ["C2"] and page.record_ids == ["10"]
    (reject,) = page.rejects
    assert reject.record_key == "C1" and reject.reason.startswith("duplicate unique identifier")
    assert reject.payload["CUSTOMER.NAME"] == "again" and reject.key == ("C1",)


def test_composite_key_encoding():
    m = mapper(
        [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "BALANCE", "column": "b", "convert": "int"},
        ],
        keys=("CUSTOMER.CODE", "BALANCE"),
    )
    page = m.map_page(
        FIELDS, [["CUSTOMER;1", "C1", "", "", "1", ""], ["CUSTOMER;2", "C1", "", "", "2", ""]], ["1", "2"]
    )
    assert page.keys == [("C1", 1), ("C1", 2)]
    assert page.record_keys == ['["C1","1"]', '["C1","2"]']
    assert encode_record_key(["x"]) == "x"


def test_incremental_window_filters_exactly_and_tracks_the_cursor():
    config = parse_integration_config(
        {
            "source": {"object": "CUSTOMER"},
            "mappings": [{"erpField": "CUSTOMER.CODE", "column": "code"}],
            "uniqueIdentifiers": ["CODE"],
            "target": {"table": "t"},
            "mode": "incremental",
            "cursorField": "UPDDATE",
        }
    )
    athens = ZoneInfo("Europe/Athens")
    m = RowMapper(
        config,
        erp_timezone="Europe/Athens",
        has_record_id=True,
        window_start=datetime(2024, 5, 1, 12, 0, tzinfo=athens),
    )
    page = m.map_page(
        FIELDS,
        [
            ["CUSTOMER;1", "OLD", "", "2024-05-01 11:59:59", "", ""],
            ["CUSTOMER;2", "EDGE", "", "2024-05-01 12:00:00", "", ""],
            ["CUSTOMER;3", "NEW", "", "2024-05-02 08:00:00", "", ""],
            ["CUSTOMER;4", "BAD", "", "yesterday", "", ""],
        ],
        ["1", "2", "3", "4"],
    )
    assert [r[0] for r in page.rows] == ["EDGE", "NEW"]
    assert page.filtered == 1
    assert page.max_cursor == datetime(2024, 5, 2, 8, 0, tzinfo=athens)
    assert "cursorField UPDDATE" in page.rejects[0].reason


AWKWARD = [
    "", " ", "42", " 42 ", "+7", "-3", "5.00", "5.5", "1_000", "٣", "²", "1e5", "NaN", "Infinity", ".5",
    "8074.95", "1,5", "0", "1", "true", "No", "x", "2024-03-01 00:00:00", "2024-03-01", "2024-03-01T10:00:00",
    "2024-02-30 00:00:00", "1899-12-30 00:00:00", "1899-12-30 10:00:00", "20240301", "2024-10-27 03:30:00",
    "Αθήνα", "  Αθήνα  ",
]  # fmt: skip


@pytest.mark.parametrize(
    "convert", ["string", "strip", "upper", "lower", "int", "decimal", "bool", "date", "datetime"]
)
def test_fast_path_agrees_with_the_precise_converters(convert):
    """The mapper's generated row function must mean exactly what softone.convert means, for any input."""
    from softone_sync.softone.convert import ConversionError
    from softone_sync.sync.mapping import converter_for

    precise = converter_for(convert, "Europe/Athens")
    m = mapper(
        [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "NAME", "column": "v", "convert": convert},
        ]
    )
    rows = [["CUSTOMER;1", f"C{i}", raw, "", "", ""] for i, raw in enumerate(AWKWARD)]
    page = m.map_page(FIELDS, rows, [str(i) for i in range(len(rows))])
    got = {row[0]: row[1] for row in page.rows}
    rejected = {r.record_key for r in page.rejects}
    for i, raw in enumerate(AWKWARD):
        try:
            expected = precise(raw)
        except ConversionError:
            assert f"C{i}" in rejected, (convert, raw)
            continue
        assert f"C{i}" in got, (convert, raw)
        assert got[f"C{i}"] == expected and type(got[f"C{i}"]) is type(expected), (convert, raw)
        if isinstance(expected, datetime):
            assert got[f"C{i}"].utcoffset() == expected.utcoffset(), (convert, raw)
