"""Reading the simulator's per-service call counters."""

from __future__ import annotations

from typing import Any


def calls(sim: Any, service: str) -> int:
    """How many times ``service`` was called on a running simulator (service names ignore case)."""
    counts = sim.simulator.stats()["calls"]
    lowered = service.lower()
    return sum(int(v) for k, v in counts.items() if str(k).lower() == lowered)
