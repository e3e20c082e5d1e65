"""getData / setData / calculate / delData and selectorFields."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.simulator.conftest import S1, error_of


def customer(s1: S1, key: str, locate: str = "") -> dict[str, str]:
    answer = s1.ok("getData", OBJECT="CUSTOMER", KEY=key, LOCATEINFO=locate)
    assert answer["readOnly"] is False
    row: dict[str, str] = answer["data"]["CUSTOMER"][0]
    return row


def test_get_data_returns_every_table_as_an_array_of_string_rows(s1: S1) -> None:
    answer = s1.ok("getData", OBJECT="CUSTOMER", KEY=10)
    assert set(answer["data"]) == {"CUSTOMER", "CUSEXTRA", "CUSBRANCH"}
    row = answer["data"]["CUSTOMER"][0]
    assert row["TRDR"] == "10" and row["CODE"] == "C0000010"
    assert all(isinstance(v, str) for v in row.values())
    only = s1.ok("getData", OBJECT="CUSTOMER", KEY="10", LOCATEINFO="CUSTOMER:CODE,NAME")["data"]
    assert only == {"CUSTOMER": [{"CODE": "C0000010", "NAME": row["NAME"]}]}
    assert error_of(s1.call("getData", OBJECT="CUSTOMER", KEY=99_999)) == (
        2001,
        "Invalid request, Data does not exist.",
    )
    assert error_of(s1.call("getData", OBJECT="CUSTOMER", KEY=1, LOCATEINFO="CUSTOMER:SHOESIZE"))[0] == 0


def test_insert_update_delete_round_trip_with_greek_text(s1: S1) -> None:
    before = s1.running.simulator.now()
    created = s1.ok(
        "setData",
        OBJECT="CUSTOMER",
        KEY="",
        data={"CUSTOMER": [{"CODE": "GR-001", "NAME": "Ωμέγα Εμπορική ΑΕ", "DISCOUNT": 12.50, "ISACTIVE": 1}],
              "CUSEXTRA": [{"VARCHAR01": "σημείωση", "NUM01": "3.140"}]},
    )  # fmt: skip
    key = created["id"]
    assert isinstance(key, str) and key == "251"
    row = customer(s1, key)
    assert row["NAME"] == "Ωμέγα Εμπορική ΑΕ" and row["DISCOUNT"] == "12.5" and row["ISACTIVE"] == "1"
    assert row["INSDATE"] == row["UPDDATE"]
    stamped = datetime.fromisoformat(row["UPDDATE"])
    assert before - timedelta(seconds=1) <= stamped <= s1.running.simulator.now()  # ERP-local time
    extra = s1.ok("getData", OBJECT="CUSTOMER", KEY=key, LOCATEINFO="CUSEXTRA:VARCHAR01,NUM01")["data"]
    assert extra == {"CUSEXTRA": [{"VARCHAR01": "σημείωση", "NUM01": "3.14"}]}

    assert s1.ok("setData", OBJECT="CUSTOMER", KEY=key, data={"customer": [{"email": "a@b.gr"}]})["id"] == key
    updated = customer(s1, key)
    assert updated["EMAIL"] == "a@b.gr" and updated["NAME"] == "Ωμέγα Εμπορική ΑΕ"
    assert updated["INSDATE"] == row["INSDATE"]

    assert s1.ok("delData", OBJECT="CUSTOMER", KEY=key) == {"success": True}
    assert error_of(s1.call("getData", OBJECT="CUSTOMER", KEY=key))[0] == 2001
    assert error_of(s1.call("delData", OBJECT="CUSTOMER", KEY=key))[0] == 2001
    assert (
        error_of(s1.call("setData", OBJECT="CUSTOMER", KEY=key, data={"CUSTOMER": [{"NAME": "x"}]}))[0]
        == 2001
    )


def test_base_records_can_be_updated_and_their_code_reused_after_delete(s1: S1) -> None:
    s1.ok("setData", OBJECT="CUSTOMER", KEY=7, data={"CUSTOMER": [{"NAME": "Νέο όνομα"}]})
    assert customer(s1, "7")["NAME"] == "Νέο όνομα"
    s1.ok("delData", OBJECT="CUSTOMER", KEY=8)
    assert s1.ok("setData", OBJECT="CUSTOMER", data={"CUSTOMER": [{"CODE": "C0000008", "NAME": "x"}]})["id"]


def test_characters_outside_cp1253_are_replaced_by_question_marks(s1: S1) -> None:
    key = s1.ok(
        "setData", OBJECT="CUSTOMER", data={"CUSTOMER": [{"CODE": "RO1", "NAME": "Țară — 株式会社"}]}
    )["id"]
    assert customer(s1, key)["NAME"] == "?ar? — ????"  # only the em dash exists in cp1253


def test_validation_errors_are_business_errors_that_write_nothing(s1: S1) -> None:
    def refuse(data: dict[str, object], key: object = "") -> str:
        code, message = error_of(s1.call("setData", OBJECT="CUSTOMER", KEY=key, data={"CUSTOMER": [data]}))
        assert code == 0
        return message

    assert "CUSTOMER.CODE" in refuse({"NAME": "Χωρίς κωδικό"}) and "required" in refuse({"NAME": "x"})
    assert "Duplicate" in refuse({"CODE": "C0000005", "NAME": "x"})
    assert "c0000005" in refuse({"CODE": "c0000005", "NAME": "x"})  # codes collide case-insensitively
    assert "maximum 128" in refuse({"CODE": "LONG", "NAME": "Α" * 129})
    assert "numeric" in refuse({"CODE": "NUM", "NAME": "x", "DISCOUNT": "δέκα"})
    assert "0 or 1" in refuse({"CODE": "B", "NAME": "x", "ISACTIVE": "yes"})
    assert "SHOESIZE" in refuse({"CODE": "F", "NAME": "x", "SHOESIZE": "44"})
    assert "required" in refuse({"NAME": ""}, key=3)
    assert error_of(s1.call("setData", OBJECT="CUSTOMER", data={"PLANETS": [{}]}))[0] == 0
    assert error_of(s1.call("setData", OBJECT="CUSTOMER", data="oops"))[0] == -9
    assert s1.running.simulator.stats()["changed_records"] == {"CUSTOMER": 0, "ITEM": 0}


def test_calculate_answers_the_record_without_saving_it(s1: S1) -> None:
    answer = s1.ok("calculate", OBJECT="CUSTOMER", KEY=4, data={"CUSTOMER": [{"DISCOUNT": "7.125"}]},
                   LOCATEINFO="CUSTOMER:TRDR,DISCOUNT")  # fmt: skip
    assert answer["data"] == {"CUSTOMER": [{"TRDR": "4", "DISCOUNT": "7.13"}]}
    assert customer(s1, "4")["DISCOUNT"] != "7.13"
    new = s1.ok(
        "calculate", OBJECT="ITEM", data={"ITEM": [{"NAME": "Δοκιμή"}]}, LOCATEINFO="ITEM:MTRL,NAME,ISACTIVE"
    )
    assert new["data"]["ITEM"] == [{"MTRL": "", "NAME": "Δοκιμή", "ISACTIVE": "1"}]
    assert s1.running.simulator.stats()["changed_records"]["ITEM"] == 0


def test_selector_fields_answers_rows_as_objects(s1: S1) -> None:
    by_key = s1.ok(
        "selectorFields", TABLENAME="CUSTOMER", KEYNAME="TRDR", KEYVALUE="12", RESULTFIELDS="CODE,NAME,AFM"
    )
    assert by_key["totalcount"] == 1 and by_key["rows"][0]["CODE"] == "C0000012"
    assert set(by_key["rows"][0]) == {"CODE", "NAME", "AFM"}
    by_code = s1.ok(
        "selectorFields", TABLENAME="MTRL", KEYNAME="CODE", KEYVALUE="I0000003", RESULTFIELDS="MTRL"
    )
    assert by_code["rows"] == [{"MTRL": "3"}]
    city = customer(s1, "1")["CITY"]
    by_city = s1.ok("selectorFields", TABLENAME="TRDR", KEYNAME="CITY", KEYVALUE=city, RESULTFIELDS="TRDR")
    assert {"TRDR": "1"} in by_city["rows"] and by_city["totalcount"] == len(by_city["rows"])
    assert (
        s1.ok("selectorFields", TABLENAME="TRDR", KEYNAME="TRDR", KEYVALUE="0", RESULTFIELDS="CODE")["rows"]
        == []
    )
    assert (
        error_of(s1.call("selectorFields", TABLENAME="TRDR", KEYNAME="TRDR", KEYVALUE="1", RESULTFIELDS="X"))[
            0
        ]
        == 0
    )
