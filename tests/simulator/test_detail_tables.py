"""Detail (child) tables: CUSTOMER's CUSBRANCH branches and SoftOne's LINENUM rules (SOFTONE.md §3.4)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.fixtures.simulator import MakeSimulator
from tests.simulator.conftest import S1, error_of

Rows = list[dict[str, str]]


def branches(s1: S1, key: str | int) -> Rows:
    rows: Rows = s1.ok("getData", OBJECT="CUSTOMER", KEY=key)["data"]["CUSBRANCH"]
    return rows


def header(s1: S1, key: str | int) -> dict[str, str]:
    row: dict[str, str] = s1.ok("getData", OBJECT="CUSTOMER", KEY=key)["data"]["CUSTOMER"][0]
    return row


def customer_with(s1: S1, count: int) -> int:
    """The first generated customer with exactly ``count`` branches."""
    for key in range(1, 100):
        if len(branches(s1, key)) == count:
            return key
    raise AssertionError(f"no generated customer with {count} branches")  # pragma: no cover


def save(s1: S1, key: object, rows: list[dict[str, Any]], **tables: Any) -> dict[str, Any]:
    return s1.call("setData", OBJECT="CUSTOMER", KEY=key, data={"CUSBRANCH": rows, **tables})


def test_get_data_returns_generated_branches_as_string_rows(s1: S1) -> None:
    key = customer_with(s1, 3)
    rows = branches(s1, key)
    assert [r["LINENUM"] for r in rows] == ["1", "2", "3"]
    assert all(isinstance(v, str) for r in rows for v in r.values())
    assert {r["TRDR"] for r in rows} == {str(key)} and len({r["TRDBRANCH"] for r in rows}) == 3
    assert all(r["NAME"] and r["CITY"] and r["EMAIL"].startswith("branch") for r in rows)
    assert branches(s1, customer_with(s1, 0)) == []

    only = s1.ok("getData", OBJECT="CUSTOMER", KEY=key, LOCATEINFO="CUSBRANCH:LINENUM,NAME")["data"]
    assert only == {"CUSBRANCH": [{"LINENUM": r["LINENUM"], "NAME": r["NAME"]} for r in rows]}
    both = s1.ok("getData", OBJECT="customer", KEY=key, LOCATEINFO="CUSTOMER:CODE;cusbranch:zip")["data"]
    assert both == {"CUSTOMER": [{"CODE": f"C{key:07d}"}], "CUSBRANCH": [{"ZIP": r["ZIP"]} for r in rows]}
    code, message = error_of(s1.call("getData", OBJECT="CUSTOMER", KEY=key, LOCATEINFO="CUSBRANCH:FAX"))
    assert code == 0 and "CUSBRANCH.FAX" in message


def test_branches_are_deterministic_and_cost_nothing_until_read(make_simulator: MakeSimulator) -> None:
    a, b, c = (S1(make_simulator(seed=seed)) for seed in (7, 7, 8))
    for caller in (a, b, c):
        caller.login()
    first = [branches(a, k) for k in range(1, 40)]
    assert first == [branches(b, k) for k in range(1, 40)]
    assert first != [branches(c, k) for k in range(1, 40)]
    assert {len(rows) for rows in first} == {0, 1, 2, 3}
    # Reading records stores nothing: the overlay only holds what setData changed.
    assert a.running.simulator.stats()["changed_records"] == {"CUSTOMER": 0, "ITEM": 0}

    big = S1(make_simulator(customers=1_000_000))
    big.login()
    last = big.ok("getData", OBJECT="CUSTOMER", KEY=1_000_000)["data"]["CUSBRANCH"]
    assert all(r["TRDR"] == "1000000" for r in last)
    for caller in (a, b, c, big):
        caller.close()


def test_keep_update_delete_and_insert_lines_in_one_set_data(s1: S1) -> None:
    key = customer_with(s1, 3)
    before = branches(s1, key)
    head = header(s1, key)
    started = s1.running.simulator.now()
    answer = save(
        s1,
        key,
        [
            {"LINENUM": 1},  # kept unchanged
            {"LINENUM": "3", "PHONE1": 2101234567, "NAME": "Κεντρικό κατάστημα"},  # updated
            {"LINENUM": 9000001, "NAME": "Νέα αποθήκη", "CITY": "Βόλος", "ZIP": "38221"},  # new
            {"LINENUM": "9000002", "NAME": "Νέο γραφείο"},  # new
        ],  # line 2 is not listed: it is deleted
    )
    assert answer == {"success": True, "id": str(key)}
    after = branches(s1, key)
    assert [r["LINENUM"] for r in after] == ["1", "3", "4", "5"]
    assert after[0] == before[0]
    assert after[1] == {**before[2], "PHONE1": "2101234567", "NAME": "Κεντρικό κατάστημα"}
    new = after[2]
    assert new["NAME"] == "Νέα αποθήκη" and new["CITY"] == "Βόλος" and new["TRDR"] == str(key)
    assert new["ISACTIVE"] == "1" and new["CODE"] == "" and new["EMAIL"] == ""
    ids = [int(r["TRDBRANCH"]) for r in after]
    assert len(set(ids)) == 4 and min(ids[2:]) > max(int(r["TRDBRANCH"]) for r in before)
    # The header is untouched except for UPDDATE, which a change to the branches moves too.
    now_head = header(s1, key)
    assert {k: v for k, v in now_head.items() if k != "UPDDATE"} == {
        k: v for k, v in head.items() if k != "UPDDATE"
    }
    assert datetime.fromisoformat(now_head["UPDDATE"]) >= started - timedelta(seconds=1)
    assert now_head["UPDDATE"] > head["UPDDATE"]

    # A later new line continues after the highest line; ids never repeat across records.
    other = customer_with(s1, 2)
    assert save(s1, other, [{"LINENUM": 1}, {"LINENUM": 2}, {"LINENUM": 9000001, "NAME": "x"}])["success"]
    added = branches(s1, other)[-1]
    assert added["LINENUM"] == "3" and int(added["TRDBRANCH"]) > max(ids)


def test_omitted_lines_are_deleted_but_an_absent_table_is_left_alone(s1: S1) -> None:
    key = customer_with(s1, 3)
    before = branches(s1, key)
    # Only the header in data: the detail table is not part of the write.
    s1.ok("setData", OBJECT="CUSTOMER", KEY=key, data={"CUSTOMER": [{"REMARKS": "μόνο κεφαλή"}]})
    assert branches(s1, key) == before
    # The trap: sending just the new line deletes every existing one.
    assert save(s1, key, [{"LINENUM": 9000001, "NAME": "Μόνη γραμμή"}])["success"]
    after = branches(s1, key)
    assert [(r["LINENUM"], r["NAME"]) for r in after] == [("4", "Μόνη γραμμή")]
    # An explicitly empty table deletes them all.
    assert save(s1, key, [])["success"]
    assert branches(s1, key) == []


def test_a_line_that_does_not_exist_is_a_business_error_that_writes_nothing(s1: S1) -> None:
    key = customer_with(s1, 2)
    before = s1.ok("getData", OBJECT="CUSTOMER", KEY=key)["data"]

    def refuse(rows: list[dict[str, Any]], on: object = key) -> str:
        code, message = error_of(save(s1, on, rows))
        assert code == 0
        return message

    message = refuse([{"LINENUM": 1}, {"LINENUM": 7, "NAME": "x"}])
    assert "LINENUM 7 does not exist" in message and f"CUSTOMER record {key}" in message
    assert "9000001" in message and "CUSBRANCH row 2" in message
    assert "listed twice" in refuse([{"LINENUM": 1}, {"LINENUM": "1"}])
    # On update "0" or no LINENUM names no line (only an insert takes them as new lines).
    assert "LINENUM 0 does not exist" in refuse([{"LINENUM": 1}, {"LINENUM": "0", "NAME": "x"}])
    assert "a row without LINENUM does not exist" in refuse([{"LINENUM": 1}, {"NAME": "x"}])
    assert "LINENUM" in refuse([{"LINENUM": "πρώτη"}]) and "invalid LINENUM" in refuse([{"LINENUM": -1}])
    assert "CUSBRANCH.NAME" in refuse([{"LINENUM": 9000001, "CITY": "Άρτα"}])
    assert "CUSBRANCH.NAME" in refuse([{"LINENUM": 2, "NAME": " "}])
    assert "maximum 10" in refuse([{"LINENUM": 1, "ZIP": "12345678901"}])
    assert "CUSBRANCH.SHOESIZE" in refuse([{"LINENUM": 1, "SHOESIZE": 44}])
    assert (
        "single row"
        in error_of(s1.call("setData", OBJECT="CUSTOMER", KEY=key, data={"CUSTOMER": [{}, {}]}))[1]
    )
    assert s1.ok("getData", OBJECT="CUSTOMER", KEY=key)["data"] == before
    # A deleted line is gone for good: naming it later is the same error.
    assert save(s1, key, [{"LINENUM": 2}])["success"]
    assert "LINENUM 1 does not exist" in refuse([{"LINENUM": 1}])
    assert s1.running.simulator.stats()["changed_records"] == {"CUSTOMER": 1, "ITEM": 0}


def test_insert_with_lines_assigns_linenums_ids_and_the_new_key(s1: S1) -> None:
    created = s1.ok(
        "setData",
        OBJECT="CUSTOMER",
        KEY="",
        data={
            "CUSTOMER": [{"CODE": "BR-1", "NAME": "Πελάτης με υποκαταστήματα"}],
            "CUSBRANCH": [
                {"LINENUM": 9000001, "NAME": "Έδρα", "CITY": "Λάρισα"},
                {"LINENUM": "0", "NAME": "Αποθήκη 株"},  # outside cp1253 → '?'
                {"NAME": "Κατάστημα", "ISACTIVE": False},
            ],
        },
    )
    key = created["id"]
    rows = branches(s1, key)
    assert [(r["LINENUM"], r["NAME"], r["TRDR"]) for r in rows] == [
        ("1", "Έδρα", key),
        ("2", "Αποθήκη ?", key),
        ("3", "Κατάστημα", key),
    ]
    assert [r["ISACTIVE"] for r in rows] == ["1", "1", "0"] and len({r["TRDBRANCH"] for r in rows}) == 3
    # On insert no line exists yet, so a real LINENUM is an error and nothing is created.
    code, message = error_of(
        s1.call(
            "setData",
            OBJECT="CUSTOMER",
            data={"CUSTOMER": [{"CODE": "BR-2", "NAME": "x"}], "CUSBRANCH": [{"LINENUM": 1, "NAME": "y"}]},
        )
    )
    assert code == 0 and "LINENUM 1 does not exist in the new CUSTOMER record" in message
    assert s1.running.simulator.stats()["changed_records"]["CUSTOMER"] == 1


def test_calculate_merges_lines_without_saving(s1: S1) -> None:
    key = customer_with(s1, 2)
    before = branches(s1, key)
    answer = s1.ok(
        "calculate",
        OBJECT="CUSTOMER",
        KEY=key,
        data={"CUSBRANCH": [{"LINENUM": 2, "CITY": "Χανιά"}, {"LINENUM": 9000001, "NAME": "Νέο"}]},
        LOCATEINFO="CUSBRANCH:LINENUM,TRDBRANCH,NAME,CITY",
    )
    assert answer["data"]["CUSBRANCH"] == [
        {"LINENUM": "2", "TRDBRANCH": before[1]["TRDBRANCH"], "NAME": before[1]["NAME"], "CITY": "Χανιά"},
        {"LINENUM": "3", "TRDBRANCH": "", "NAME": "Νέο", "CITY": ""},  # no id until saved
    ]
    assert branches(s1, key) == before
    assert s1.running.simulator.stats()["changed_records"]["CUSTOMER"] == 0


def test_del_data_removes_the_branches_with_the_record(s1: S1) -> None:
    key = customer_with(s1, 3)
    assert s1.ok("delData", OBJECT="CUSTOMER", KEY=key) == {"success": True}
    assert error_of(s1.call("getData", OBJECT="CUSTOMER", KEY=key, LOCATEINFO="CUSBRANCH:NAME"))[0] == 2001
    assert error_of(save(s1, key, [{"LINENUM": 1}]))[0] == 2001
    # The freed CODE can be reused; the new record starts without branches.
    new = s1.ok("setData", OBJECT="CUSTOMER", data={"CUSTOMER": [{"CODE": f"C{key:07d}", "NAME": "x"}]})
    assert branches(s1, new["id"]) == []
