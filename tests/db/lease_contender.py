"""A separate process racing for a lease (used by test_leases; not a test module itself).

Usage: python lease_contender.py DATABASE_URL INTEGRATION_ID TASKS
Connects TASKS connections, prints "ready", waits for a line on stdin, then every task tries to
acquire the lease at once; prints the JSON list of winning owners.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

from softone_sync.db import open_database
from softone_sync.db.leases import acquire_lease


async def main(url: str, integration_id: str, tasks: int) -> None:
    db = await open_database(url, pool_size=tasks)
    try:
        connections = [await db.engine.connect() for _ in range(tasks)]  # warm: one connection per task
        for conn in connections:
            await conn.close()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        owners = [f"proc{os.getpid()}-{n}" for n in range(tasks)]
        leases = await asyncio.gather(
            *(acquire_lease(db, integration_id, owner=o, run_id=uuid.uuid4().hex, ttl=60) for o in owners)
        )
        print(json.dumps([lease.owner for lease in leases if lease is not None]), flush=True)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
