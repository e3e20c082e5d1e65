"""Records and lookups: getData/setData/delData/calculate, SqlData, selectorFields, metadata."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from softone_sync.softone import BusinessError, DataNotFound, SoftOneError
from softone_sync.softone.convert import to_datetime

from .conftest import client_for


async def test_metadata_services(sim):
    async with client_for(sim) as client:
        objects = await client.get_objects()
        assert {"CUSTOMER", "ITEM"} <= {o["name"] for o in objects}
        tables = await client.get_object_tables("CUSTOMER")
        assert any(t["name"] == "CUSTOMER" and t["dbname"] == "TRDR" for t in tables)
        fields = await client.get_table_fields("CUSTOMER", "CUSTOMER")
        assert any(f["name"] == "CODE" for f in fields)


async def test_greek_text_round_trips_through_set_data_and_get_data(sim):
    name = "Ελληνικά Προϊόντα Ά.Ε. €10 ΆΈΉΊΌΎΏ άέήίόύώ ϊϋΐΰ"
    async with client_for(sim) as client:
        created = await client.set_data(
            "CUSTOMER", {"CUSTOMER": [{"CODE": "GR-ROUNDTRIP", "NAME": name, "ISACTIVE": True}]}
        )
        assert created.id.isdigit()
        data = await client.get_data("CUSTOMER", created.id, locate_info="CUSTOMER:CODE,NAME,ISACTIVE")
    row = data["CUSTOMER"][0]
    assert row["NAME"] == name
    assert row["ISACTIVE"] == "1"


async def test_update_keeps_the_id_and_sends_python_values_in_erp_format(sim):
    async with client_for(sim) as client:
        page = await anext(client.browse("CUSTOMER", page_size=1))
        key = page.keys()[0]
        result = await client.set_data("CUSTOMER", {"CUSTOMER": [{"NAME": "Νέο όνομα"}]}, key=key)
        assert result.id == key
        data = await client.get_data("CUSTOMER", key)
        assert data["CUSTOMER"][0]["NAME"] == "Νέο όνομα"
        upd = to_datetime(data["CUSTOMER"][0].get("UPDDATE", ""))
        assert upd is None or upd.year >= 2024


async def test_invalid_set_data_shape_is_refused_before_sending(sim):
    async with client_for(sim) as client:
        with pytest.raises(ValueError, match=r"data\['CUSTOMER'\] must be a list of rows"):
            await client.set_data("CUSTOMER", {"CUSTOMER": {"NAME": "x"}})
        with pytest.raises(ValueError, match=r"data\['CUSTOMER'\]\[0\]: .*unsupported type object"):
            await client.set_data("CUSTOMER", {"CUSTOMER": [{"NAME": object()}]})


async def test_del_data_then_get_data_is_data_not_found(sim):
    async with client_for(sim) as client:
        created = await client.set_data("CUSTOMER", {"CUSTOMER": [{"CODE": "TO-DELETE", "NAME": "x"}]})
        await client.del_data("CUSTOMER", created.id)
        with pytest.raises(DataNotFound, match="the record KEY does not exist"):
            await client.get_data("CUSTOMER", created.id)
        with pytest.raises(DataNotFound):
            await client.del_data("CUSTOMER", created.id)


async def test_calculate_does_not_save(sim):
    async with client_for(sim) as client:
        page = await anext(client.browse("CUSTOMER", page_size=1))
        key = page.keys()[0]
        before = (await client.get_data("CUSTOMER", key))["CUSTOMER"][0]["NAME"]
        calculated = await client.calculate("CUSTOMER", {"CUSTOMER": [{"NAME": "Προσωρινό"}]}, key=key)
        assert calculated["CUSTOMER"][0]["NAME"] == "Προσωρινό"
        assert (await client.get_data("CUSTOMER", key))["CUSTOMER"][0]["NAME"] == before


async def test_values_convert_from_erp_strings(sim):
    async with client_for(sim) as client:
        data = await client.get_data("ITEM", (await anext(client.browse("ITEM", page_size=1))).keys()[0])
    item = data["ITEM"][0]
    assert all(isinstance(v, str) for v in item.values())
    from softone_sync.softone.convert import to_decimal

    if item.get("PRICER"):
        assert isinstance(to_decimal(item["PRICER"]), Decimal)
    if item.get("INSDATE"):
        assert to_datetime(item["INSDATE"]).date() >= date(1990, 1, 1)


async def test_sql_data_and_selector_fields(sim):
    async with client_for(sim) as client:
        page = await anext(client.browse("CUSTOMER", page_size=1))
        key = page.keys()[0]
        rows = await client.selector_fields("CUSTOMER", "TRDR", key, ["CODE", "NAME"])
        assert rows and rows[0]["CODE"] == page.records()[0]["CUSTOMER.CODE"]
        with pytest.raises(SoftOneError):
            await client.sql_data("NoSuchScript")


async def test_set_data_with_detail_lines_round_trips_by_linenum(sim):
    """Python ints for LINENUM survive the client's rendering; omitted lines are deleted."""
    locate = "CUSBRANCH:LINENUM,NAME,ZIP,ISACTIVE"
    async with client_for(sim) as client:
        created = await client.set_data(
            "CUSTOMER",
            {
                "CUSTOMER": [{"CODE": "BR-CLIENT", "NAME": "Πελάτης με υποκαταστήματα"}],
                "CUSBRANCH": [
                    {"LINENUM": 9000001, "NAME": "Έδρα", "ZIP": 41222, "ISACTIVE": True},
                    {"LINENUM": 9000002, "NAME": "Αποθήκη", "ISACTIVE": False},
                ],
            },
        )
        lines = (await client.get_data("CUSTOMER", created.id, locate_info=locate))["CUSBRANCH"]
        assert lines == [
            {"LINENUM": "1", "NAME": "Έδρα", "ZIP": "41222", "ISACTIVE": "1"},
            {"LINENUM": "2", "NAME": "Αποθήκη", "ZIP": "", "ISACTIVE": "0"},
        ]
        # Keep line 2 as is, drop line 1 by leaving it out, add a new line.
        updated = await client.set_data(
            "CUSTOMER",
            {"CUSBRANCH": [{"LINENUM": 2}, {"LINENUM": 9000001, "NAME": "Κατάστημα"}]},
            key=created.id,
        )
        assert updated.id == created.id
        lines = (await client.get_data("CUSTOMER", created.id, locate_info=locate))["CUSBRANCH"]
        assert [(line["LINENUM"], line["NAME"]) for line in lines] == [("2", "Αποθήκη"), ("3", "Κατάστημα")]
        with pytest.raises(BusinessError, match="LINENUM 1 does not exist"):
            await client.set_data("CUSTOMER", {"CUSBRANCH": [{"LINENUM": 1}]}, key=created.id)
        preview = await client.calculate(
            "CUSTOMER", {"CUSBRANCH": [{"LINENUM": 3, "NAME": "Μετονομασία"}]}, key=created.id
        )
        assert [line["NAME"] for line in preview["CUSBRANCH"]] == ["Μετονομασία"]
        lines = (await client.get_data("CUSTOMER", created.id, locate_info=locate))["CUSBRANCH"]
        assert [line["NAME"] for line in lines] == ["Αποθήκη", "Κατάστημα"]
