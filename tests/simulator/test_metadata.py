"""getObjects, getObjectTables, getTableFields."""

from __future__ import annotations

from tests.simulator.conftest import S1, error_of


def test_objects_and_their_tables(s1: S1) -> None:
    objects = s1.ok("getObjects")
    assert {"name": "CUSTOMER", "type": "EditMaster", "caption": "Πελάτες"} in objects["objects"]
    assert objects["count"] == len(objects["objects"])
    tables = s1.ok("getObjectTables", OBJECT="customer")["tables"]
    assert {(t["name"], t["dbname"]) for t in tables} == {
        ("CUSTOMER", "TRDR"),
        ("CUSEXTRA", "TRDEXTRA"),
        ("CUSBRANCH", "TRDBRANCH"),
    }
    branch = {f["name"]: f for f in s1.ok("getTableFields", OBJECT="CUSTOMER", TABLE="TRDBRANCH")["fields"]}
    assert branch["LINENUM"]["type"] == "Integer" and branch["TRDBRANCH"]["readOnly"] is True
    assert branch["NAME"]["required"] is True and branch["NAME"]["caption"] == "Επωνυμία"
    assert s1.ok("getObjectTables", OBJECT="ITEM")["tables"][0] == {
        "name": "ITEM",
        "dbname": "MTRL",
        "caption": "Είδη",
        "filltype": "SQL",
    }
    assert error_of(s1.call("getObjectTables", OBJECT="SPACESHIP"))[0] == 0
    assert error_of(s1.call("getObjectTables"))[0] == -9


def test_table_fields_describe_types_sizes_and_flags(s1: S1) -> None:
    by_alias = {f["name"]: f for f in s1.ok("getTableFields", OBJECT="CUSTOMER", TABLE="CUSTOMER")["fields"]}
    by_dbname = {f["name"]: f for f in s1.ok("getTableFields", OBJECT="CUSTOMER", TABLE="TRDR")["fields"]}
    assert by_alias == by_dbname
    name = by_alias["NAME"]
    assert name["fullname"] == "CUSTOMER.NAME" and name["size"] == "128" and name["type"] == "String"
    assert name["required"] is True and name["readOnly"] is False and name["visible"] is True
    assert by_alias["UPDDATE"]["type"] == "DateTime" and by_alias["UPDDATE"]["readOnly"] is True
    assert by_alias["DISCOUNT"]["decimals"] == "2"
    expected = {"name", "alias", "fullname", "caption", "size", "type", "edittype", "decimals", "readOnly",
                "visible", "required", "calculated"}  # fmt: skip
    assert expected <= set(name)
    qty = {f["name"]: f for f in s1.ok("getTableFields", OBJECT="ITEM", TABLE="MTRL")["fields"]}["QTY1"]
    assert qty["calculated"] is True
    assert error_of(s1.call("getTableFields", OBJECT="ITEM", TABLE="TRDR"))[0] == 0
