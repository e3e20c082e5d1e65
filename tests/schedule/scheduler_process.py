"""A scheduler process for the multi-process tests: ``python -m tests.schedule.scheduler_process URL SECONDS
DURATION OUT``. Runs a CronManager with a lease-taking fake run and writes the runs it started to OUT
(one JSON line per run, written as the run starts, so a SIGKILLed process still leaves its record)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from softone_sync.config import load_settings
from softone_sync.db.engine import open_database
from softone_sync.schedule.executors import InlineExecutor
from softone_sync.schedule.manager import CronManager
from tests.schedule.fake_runs import FakeRuns


async def main(url: str, seconds: float, duration: float, out: str) -> None:
    db = await open_database(url)
    path = Path(out)

    def record(integration_id: str, slot_at: datetime | None, run_id: str) -> None:
        with path.open("a") as handle:
            handle.write(
                json.dumps([integration_id, slot_at.isoformat() if slot_at else None, run_id]) + "\n"
            )

    runs = FakeRuns(duration=duration, ttl=2.0, on_start=record)
    settings = load_settings(database_url=url)
    manager = CronManager(db, settings, executor=InlineExecutor(db, settings, run_fn=runs), reap_interval=1.0)
    await manager.start()
    await asyncio.sleep(seconds)
    await manager.stop(grace=5)
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]))
