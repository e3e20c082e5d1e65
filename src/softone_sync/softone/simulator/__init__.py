"""A faithful SoftOne Web Services (/s1services) simulator for tests, demos and benchmarks.

Deterministic data of any size (generated lazily from a seed), the protocol's quirks (cp1253
answers, case-insensitive names, errors inside HTTP 200, expiring sessions and reqIDs, day-granular
filters) and fault injection. See ``SOFTONE.md`` for the behaviour it reproduces.
"""

from __future__ import annotations

from softone_sync.softone.simulator.app import create_app
from softone_sync.softone.simulator.core import Simulator, SimulatorConfig
from softone_sync.softone.simulator.faults import FaultKind, FaultPlan, FaultRule
from softone_sync.softone.simulator.server import RunningSimulator, run_in_thread, serve

__all__ = [
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "RunningSimulator",
    "Simulator",
    "SimulatorConfig",
    "create_app",
    "run_in_thread",
    "serve",
]
