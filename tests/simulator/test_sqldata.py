"""SqlData: stored scripts, their aliases' own case, and script-implemented paging."""

from __future__ import annotations

from tests.simulator.conftest import S1, error_of


def test_rows_are_objects_keyed_by_the_script_aliases(s1: S1) -> None:
    answer = s1.ok("SqlData", SqlName="itemswithstock")
    assert answer["totalcount"] == len(answer["rows"]) > 0
    row = answer["rows"][0]
    assert list(row) == ["MTRL", "CODE", "NAME", "RETAILPRICE", "Stock QTY"]
    assert all(isinstance(v, str) for v in row.values())
    assert all(float(r["Stock QTY"]) > 0 for r in answer["rows"])
    fewer = s1.ok("SqlData", SQLNAME="ItemsWithStock", pMinQty="20")["rows"]
    assert 0 < len(fewer) < answer["totalcount"]


def test_customers_changed_since_orders_by_upddate_and_pages_itself(s1: S1) -> None:
    sim = s1.running.simulator
    everything = s1.ok("SqlData", SqlName="CustomersChangedSince", pFrom="2015-01-01 00:00:00")["rows"]
    assert len(everything) == 250 and "City" in everything[0]
    cutoff = everything[200]["UPDDATE"]
    since = s1.ok("SqlData", SqlName="CustomersChangedSince", pFrom=cutoff)["rows"]
    assert since == [r for r in everything if r["UPDDATE"] >= cutoff]
    sim.update_record("CUSTOMER", 5, {"NAME": "Μόλις άλλαξε"})
    sim.update_record(
        "CUSTOMER", 6, {"NAME": "Παλιά αλλαγή", "UPDDATE": cutoff}
    )  # a late row with an old stamp
    pages = [
        s1.ok("SqlData", SqlName="CustomersChangedSince", pFrom=cutoff, pPage=str(p), pSize="7")["rows"]
        for p in range(1, 10)
    ]
    flat = [r for page in pages for r in page]
    assert [r["TRDR"] for r in flat][-1] == "5" and flat[-1]["NAME"] == "Μόλις άλλαξε"
    assert "6" in [r["TRDR"] for r in flat[:2]]
    assert len(flat) == len(since) + 2 and all(len(p) == 7 for p in pages[: len(flat) // 7])
    assert [r["UPDDATE"] for r in flat] == sorted(r["UPDDATE"] for r in flat)


def test_script_errors(s1: S1) -> None:
    assert "does not exist" in error_of(s1.call("SqlData", SqlName="DropAllTables"))[1]
    assert "pFrom" in error_of(s1.call("SqlData", SqlName="CustomersChangedSince"))[1]
    assert (
        "pSize"
        in error_of(s1.call("SqlData", SqlName="CustomersChangedSince", pFrom="2020-01-01", pPage="1"))[1]
    )
    assert error_of(s1.call("SqlData", SqlName="CustomersChangedSince", pFrom="yesterday"))[0] == 0
