"""getBrowserInfo / getBrowserData: paging, snapshots, every filter form, reqID expiry."""

from __future__ import annotations

import time
from datetime import date, timedelta

import httpx

from tests.fixtures.simulator import MakeSimulator
from tests.simulator.conftest import S1, error_of

MONITOR_COLUMNS = ["CODE", "NAME", "AFM", "EMAIL", "PHONE01", "ADDRESS", "CITY", "ZIP", "ISACTIVE",
                   "DISCOUNT", "REMARKS", "INSDATE", "UPDDATE"]  # fmt: skip


def records(s1: S1, filters: str = "", list_name: str = "monitor") -> list[dict[str, str]]:
    info = s1.ok("getBrowserInfo", OBJECT="CUSTOMER", LIST=list_name, FILTERS=filters)
    names = [f["name"] for f in info["fields"]]
    rows = s1.ok("getBrowserData", reqID=info["reqID"], start=0, limit=10_000)["rows"]
    assert len(rows) == info["totalcount"]
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_info_describes_fields_columns_and_sums(s1: S1) -> None:
    info = s1.ok("getBrowserInfo", OBJECT="CUSTOMER", LIST="monitor")
    assert info["formDesign"] == "CUSTOMER" and info["reqID"].isdigit()
    assert info["totalcount"] == 250
    assert [f["name"] for f in info["fields"]] == ["ZOOMINFO"] + [f"CUSTOMER.{c}" for c in MONITOR_COLUMNS]
    assert [c["dataIndex"] for c in info["columns"]] == [f"CUSTOMER.{c}" for c in MONITOR_COLUMNS]
    assert info["columns"][0]["header"] == "Κωδικός"
    assert len(info["sums"]) == len(info["columns"])
    default = s1.ok("getBrowserInfo", OBJECT="CUSTOMER")  # LIST missing = the default browser
    assert len(default["fields"]) < len(info["fields"])
    assert error_of(s1.call("getBrowserInfo", OBJECT="CUSTOMER", LIST="nosuchlist"))[0] == 0


def test_paging_covers_every_row_once_with_string_values(s1: S1) -> None:
    rows = s1.browse_all("CUSTOMER", "monitor", page=37)
    assert [r[0] for r in rows] == [f"CUSTOMER;{k}" for k in range(1, 251)]
    assert all(isinstance(v, str) for row in rows for v in row)
    first = dict(zip(MONITOR_COLUMNS, rows[0][1:], strict=True))
    assert first["CODE"] == "C0000001" and len(first["AFM"]) == 9 and first["ISACTIVE"] in ("0", "1")
    assert len(first["UPDDATE"]) == 19 and first["UPDDATE"][10] == " "
    # UPDDATE of untouched rows grows with the key: older rows first.
    upd = [r[-1] for r in rows]
    assert upd == sorted(upd)
    info = s1.ok("getBrowserInfo", OBJECT="ITEM", LIST="WSItems")
    page = s1.ok("getBrowserData", reqID=info["reqID"], start=98, limit=10)
    assert page["totalcount"] == 100 and [r[0] for r in page["rows"]] == ["ITEM;99", "ITEM;100"]


def test_version_2_with_limit_returns_first_rows_inline(s1: S1) -> None:
    info = s1.ok("getBrowserInfo", OBJECT="ITEM", VERSION=2, LIMIT=5)
    assert [r[0] for r in info["rows"]] == [f"ITEM;{k}" for k in range(1, 6)]
    assert "rows" not in s1.ok("getBrowserInfo", OBJECT="ITEM")


def test_a_req_id_is_a_snapshot_later_edits_do_not_shift_its_pages(s1: S1) -> None:
    sim = s1.running.simulator
    info = s1.ok("getBrowserInfo", OBJECT="CUSTOMER", LIST="monitor")
    before = s1.ok("getBrowserData", reqID=info["reqID"], start=0, limit=250)["rows"]
    sim.delete_record("CUSTOMER", 1)
    sim.update_record("CUSTOMER", 2, {"NAME": "Αλλαγμένη ΑΕ"})
    sim.insert_record("CUSTOMER", {"CODE": "NEW1", "NAME": "Νέος πελάτης"})
    after = s1.ok("getBrowserData", reqID=info["reqID"], start=0, limit=250)
    assert after["totalcount"] == 250 and after["rows"] == before
    fresh = records(s1)
    assert len(fresh) == 250  # one deleted, one inserted
    assert fresh[0]["ZOOMINFO"] == "CUSTOMER;2" and fresh[0]["CUSTOMER.NAME"] == "Αλλαγμένη ΑΕ"
    assert fresh[-1]["CUSTOMER.CODE"] == "NEW1" and fresh[-1]["ZOOMINFO"] == "CUSTOMER;251"


def test_wildcards_comma_lists_and_exact_values(s1: S1) -> None:
    everything = records(s1)
    assert [r["CUSTOMER.CODE"] for r in records(s1, "CUSTOMER.CODE=C000010*")] == [
        f"C00001{i:02d}" for i in range(0, 10)
    ]
    athens = [r for r in everything if r["CUSTOMER.CITY"] in ("Αθήνα", "Πάτρα")]
    assert records(s1, "CUSTOMER.CITY=Αθήνα,Πάτρα") == athens and athens
    inactive = [r for r in everything if r["CUSTOMER.ISACTIVE"] == "0"]
    both = records(s1, "CUSTOMER.ISACTIVE=0&CUSTOMER.CITY=Αθήνα,Πάτρα")
    assert both == [r for r in inactive if r in athens]
    assert records(s1, "CUSTOMER.code=c0000007") == [everything[6]]  # case-insensitive values
    assert records(s1, "CUSTOMER.CODE=") == everything  # an empty dialog field filters nothing


def test_date_ranges_are_day_granular_and_from_alone_means_that_day(s1: S1) -> None:
    everything = records(s1)
    day = everything[100]["CUSTOMER.UPDDATE"][:10]
    later = (date.fromisoformat(day) + timedelta(days=40)).isoformat()
    in_range = [r for r in everything if day <= r["CUSTOMER.UPDDATE"][:10] <= later]
    got = records(s1, f"CUSTOMER.UPDDATE={day}&CUSTOMER.UPDDATE_TO={later}")
    assert got == in_range and len(in_range) >= 2  # TO is inclusive of its whole day
    # The trap: FROM without TO is "= that day", not ">= FROM".
    that_day = records(s1, f"CUSTOMER.UPDDATE={day}")
    assert that_day == [r for r in everything if r["CUSTOMER.UPDDATE"][:10] == day] and len(that_day) >= 1
    assert len(that_day) < len([r for r in everything if r["CUSTOMER.UPDDATE"][:10] >= day])
    # INSDATE goes through the residual scan rather than the index range; same semantics.
    ins_day = everything[5]["CUSTOMER.INSDATE"][:10]
    assert records(s1, f"CUSTOMER.INSDATE={ins_day}&CUSTOMER.INSDATE_TO={ins_day}") == [
        r for r in everything if r["CUSTOMER.INSDATE"][:10] == ins_day
    ]
    assert (
        error_of(
            s1.call("getBrowserInfo", OBJECT="CUSTOMER", LIST="monitor", FILTERS="CUSTOMER.UPDDATE=yesterday")
        )[0]
        == 0
    )


def test_changed_rows_enter_an_upddate_window_with_the_current_time(s1: S1) -> None:
    sim = s1.running.simulator
    sim.update_record("CUSTOMER", 3, {"EMAIL": "new@example.gr"})
    today = sim.now().date().isoformat()
    got = records(s1, f"CUSTOMER.UPDDATE={today}&CUSTOMER.UPDDATE_TO={today}")
    assert [r["ZOOMINFO"] for r in got] == ["CUSTOMER;3"]
    assert got[0]["CUSTOMER.UPDDATE"].startswith(today)
    # Its old UPDDATE day no longer lists it.
    assert all(
        r["ZOOMINFO"] != "CUSTOMER;3"
        for r in records(s1, "CUSTOMER.UPDDATE=2015-01-01&CUSTOMER.UPDDATE_TO=2015-12-31")
    )


def test_only_fields_the_list_exposes_can_filter(s1: S1) -> None:
    code, message = error_of(
        s1.call("getBrowserInfo", OBJECT="CUSTOMER", LIST="", FILTERS="CUSTOMER.UPDDATE=2016-01-01")
    )
    assert code == 0 and "UPDDATE" in message and "not a filter" in message
    assert error_of(s1.call("getBrowserInfo", OBJECT="CUSTOMER", FILTERS="CUSTOMER.EMAIL=x*"))[0] == 0
    assert error_of(s1.call("getBrowserInfo", OBJECT="CUSTOMER", FILTERS="ITEM.CODE=1"))[0] == 0
    assert error_of(s1.call("getBrowserInfo", OBJECT="CUSTOMER", FILTERS="CUSTOMER.CODE>5"))[0] == 0


def test_req_ids_expire_by_ttl_and_on_demand(make_simulator: MakeSimulator) -> None:
    s1 = S1(make_simulator(reqid_ttl_seconds=0.3))
    s1.login()
    info = s1.ok("getBrowserInfo", OBJECT="ITEM")
    assert s1.ok("getBrowserData", reqID=info["reqID"], start=0, limit=1)
    time.sleep(0.35)
    assert error_of(s1.call("getBrowserData", reqID=info["reqID"], start=0, limit=1)) == (
        13,
        'Invalid request, "reqID" expired.',
    )
    info = s1.ok("getBrowserInfo", OBJECT="ITEM")
    with httpx.Client() as http:
        assert http.post(f"{s1.running.base_url}/_sim/reqids/expire").json() == {"expired": 1}
    assert error_of(s1.call("getBrowserData", reqID=info["reqID"], start=0, limit=1))[0] == 13
    assert error_of(s1.call("getBrowserData", reqID="123", start=0, limit=1)) == (
        102,
        '"ReqId" not found on Server!',
    )


def test_a_million_row_table_is_instant_and_pages_from_the_end(make_simulator: MakeSimulator) -> None:
    started = time.perf_counter()
    s1 = S1(make_simulator(customers=1_000_000, items=1_000_000))
    s1.login()
    info = s1.ok("getBrowserInfo", OBJECT="CUSTOMER", LIST="monitor")
    assert info["totalcount"] == 1_000_000
    page = s1.ok("getBrowserData", reqID=info["reqID"], start=999_000, limit=1000)
    assert page["rows"][-1][0] == "CUSTOMER;1000000" and len(page["rows"]) == 1000
    # An incremental window over the newest rows costs only its result.
    last_day = page["rows"][-1][-1][:10]
    window = s1.ok(
        "getBrowserInfo",
        OBJECT="CUSTOMER",
        LIST="monitor",
        FILTERS=f"CUSTOMER.UPDDATE={last_day}&CUSTOMER.UPDDATE_TO={last_day}",
    )
    assert 0 < window["totalcount"] < 1000
    assert time.perf_counter() - started < 3.0
