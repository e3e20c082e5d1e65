"""Generated data: determinism, lazy size, and the random-access result sets behind paging."""

from __future__ import annotations

import random
import time

from softone_sync.softone.simulator import Simulator, SimulatorConfig
from softone_sync.softone.simulator.results import MergedRange
from tests.simulator.conftest import S1


def rows(sim: Simulator, obj: str, keys: range) -> list[dict[str, str] | None]:
    return [sim.get_record(obj, k) for k in keys]


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a, b, c = (Simulator(SimulatorConfig(seed=s, customers=500, items=500)) for s in (3, 3, 4))
    assert rows(a, "CUSTOMER", range(1, 501)) == rows(b, "CUSTOMER", range(1, 501))
    assert rows(a, "ITEM", range(1, 501)) == rows(b, "ITEM", range(1, 501))
    assert rows(a, "CUSTOMER", range(1, 50)) != rows(c, "CUSTOMER", range(1, 50))


def test_generated_values_look_like_an_erp(s1: S1) -> None:
    sim = s1.running.simulator
    customers = [r for r in rows(sim, "CUSTOMER", range(1, 251)) if r]
    assert all(len(r["AFM"]) == 9 and r["AFM"].isdigit() for r in customers)
    assert {r["ISACTIVE"] for r in customers} == {"0", "1"}
    assert "" in {r["REMARKS"] for r in customers} and any("." in r["DISCOUNT"] for r in customers)
    assert all(r["INSDATE"] <= r["UPDDATE"] for r in customers)
    items = [r for r in rows(sim, "ITEM", range(1, 101)) if r]
    assert all(len(r["CODE1"]) == 13 and float(r["PRICER"]) >= float(r["PRICEW"]) for r in items)
    assert all(not r["PRICEW"].endswith("0") or "." not in r["PRICEW"] for r in items)


def test_a_million_rows_cost_nothing_until_touched() -> None:
    started = time.perf_counter()
    sim = Simulator(SimulatorConfig(customers=1_000_000, items=1_000_000))
    assert time.perf_counter() - started < 0.1
    last = sim.get_record("CUSTOMER", 1_000_000)
    assert last is not None and last["CODE"] == "C1000000"
    assert sim.get_record("CUSTOMER", 1_000_001) is None


def test_merged_range_pages_equal_a_brute_force_merge() -> None:
    rng = random.Random(5)
    for _ in range(200):
        n = rng.randrange(0, 40)
        lo = rng.randrange(0, n + 1)
        hi = rng.randrange(lo, n + 1)
        excluded = rng.sample(range(n), rng.randrange(0, n + 1)) if n else []
        extra_keys = rng.sample(range(1, 3 * n + 10), rng.randrange(0, 8))
        extra_keys = [k for k in extra_keys if k - 1 not in range(lo, hi) or k - 1 in excluded]
        # Sort keys interleave extras with base rows (like a changed UPDDATE does).
        extras: list[tuple[tuple[int, ...], int]] = sorted(
            ((rng.randrange(0, 100), k), k) for k in extra_keys
        )

        def base_sort(i: int, n: int = n) -> tuple[int, ...]:
            return (i * 100 // max(n, 1), i + 1)

        expected = [
            k for _, k in sorted([(base_sort(i), i + 1) for i in range(lo, hi) if i not in excluded] + extras)
        ]
        result = MergedRange(lo, hi, excluded, extras, base_sort)
        assert len(result) == len(expected)
        for start in range(len(expected) + 2):
            limit = rng.randrange(1, 6)
            assert result.keys(start, limit) == expected[start : start + limit]
