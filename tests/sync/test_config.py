"""configJson validation: what an operator sees when the integration's config is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from softone_sync.sync.config import IntegrationConfigError, parse_integration_config


def base(**overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "source": {"object": "CUSTOMER", "list": "", "pageSize": 200},
        "mappings": [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "NAME", "column": "name", "convert": "strip"},
        ],
        "uniqueIdentifiers": ["CODE"],
        "target": {"table": "Customers"},
        "schedule": {"cronExpression": "*/5 * * * *", "timezone": "Europe/Athens"},
    }
    config.update(overrides)
    return config


def problems(raw: object) -> str:
    with pytest.raises(IntegrationConfigError) as info:
        parse_integration_config(raw)
    return str(info.value)


def test_valid_config_defaults_and_key_columns():
    config = parse_integration_config(base())
    assert config.key_columns == ["code"]
    assert config.mode == "full"
    assert config.lookback == timedelta(days=1)
    assert config.deletions.mode == "ignore"
    assert config.direction == "one-way"
    assert config.source.page_size == 200
    assert config.schedule is not None and config.schedule.cron_expression == "*/5 * * * *"


def test_json_string_and_unknown_top_level_keys_are_accepted():
    import json

    config = parse_integration_config(json.dumps(base(seedOnlyKey={"x": 1})))
    assert config.target.table == "Customers"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"mappings": [{"erpField": "CODE", "column": "code", "convert": "float"}]}, "mappings[0].convert"),
        (
            {"mappings": [{"erpField": "CODE", "column": "code", "conver": "int"}]},
            "mappings[0].conver: unknown key",
        ),
        ({"uniqueIdentifiers": ["TRDR"]}, "'TRDR' is not mapped"),
        ({"source": {"object": "CUSTOMER", "sqlName": "x"}}, "either 'object'"),
        ({"mode": "incremental"}, "needs 'cursorField'"),
        (
            {"mode": "incremental", "cursorField": "UPDDATE", "lookback": "soon"},
            "lookback: 'soon' is not a duration",
        ),
        ({"target": {}}, "target.table: required"),
        ({"deletions": {"mode": "soft"}}, "soft deletions need 'column'"),
        ({"erpTimezone": "Mars/Olympus"}, "erpTimezone: unknown IANA timezone"),
        ({"guard": {"maxChangePercent": 0}}, "guard.maxChangePercent"),
        ({"mappings": []}, "mappings: List should have at least 1 item"),
        (
            {"mappings": [{"erpField": "CODE", "column": "code"}, {"erpField": "NAME", "column": "code"}]},
            "column(s) code mapped more than once",
        ),
    ],
)
def test_invalid_configs_name_the_field(overrides, expected):
    assert expected in problems(base(**overrides))


def test_not_an_object():
    assert "must be a JSON object" in problems([1, 2])
    assert "not valid JSON" in problems("{nope")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", timedelta(days=1)),
        ("12h", timedelta(hours=12)),
        ("1d12h", timedelta(hours=36)),
        ("PT30M", timedelta(minutes=30)),
        (90, timedelta(seconds=90)),
        ("P2D", timedelta(days=2)),
    ],
)
def test_lookback_forms(text, expected):
    config = parse_integration_config(base(mode="incremental", cursorField="UPDDATE", lookback=text))
    assert config.lookback == expected


def test_composite_key_and_shorthands():
    config = parse_integration_config(
        base(
            mappings=[
                {"erpField": "ITEM.CODE", "column": "code"},
                {"erpField": "ITEM.MTRGROUP", "column": "grp", "convert": "int"},
                {"column": "origin", "constant": "erp"},
            ],
            uniqueIdentifiers=["ITEM.CODE", "MTRGROUP"],
            deletions="hard",
        )
    )
    assert config.key_columns == ["code", "grp"]
    assert config.deletions.mode == "hard"


def test_sql_source_params_become_strings():
    config = parse_integration_config(base(source={"sqlName": "getItems", "params": {"pSize": 50}}))
    assert config.source.params == {"pSize": "50"}
    assert not config.source.is_browser
    assert "params" in problems(base(source={"object": "ITEM", "params": {"a": "1"}}))


def test_mapping_needs_field_or_constant():
    assert "either 'erpField' or 'constant'" in problems(base(mappings=[{"column": "code"}]))


def test_soft_delete_restore_adds_a_column():
    config = parse_integration_config(
        base(deletions={"mode": "soft", "column": "is_deleted", "value": True, "restoreValue": False})
    )
    assert config.columns == ["code", "name", "is_deleted"]
