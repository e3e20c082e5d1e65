"""Benchmark: scan every CUSTOMER row of the simulator through SoftOneClient.browse().

The simulator runs in a separate process (``softone-sync simulator``) so that its CPU time is
not charged to the client; the figures are for the client process only.

    .venv/bin/python bench/scan_customers.py --rows 1000000 --page-size 1000

Target (issue): >= 40,000 rows/s end to end on loopback, peak RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from softone_sync.softone import ConnectionSettings, SoftOneClient

TARGET_ROWS_PER_SECOND = 40_000
TARGET_PEAK_RSS_MB = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def simulator_command(port: int, rows: int) -> list[str]:
    exe = shutil.which("softone-sync", path=str(Path(sys.executable).parent)) or shutil.which("softone-sync")
    prefix = [exe] if exe else [sys.executable, "-c", "from softone_sync.cli import main; main()"]
    return [*prefix, "simulator", "--host", "127.0.0.1", "--port", str(port), "--customers", str(rows)]


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of ``pid`` via psutil."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@contextlib.contextmanager
def simulator_process(rows: int, startup_timeout: float = 120.0) -> Iterator[tuple[str, int]]:
    """Start the simulator as a child process; yield its /s1services URL and pid once it answers ping."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/s1services"
    proc = subprocess.Popen(simulator_command(port, rows), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise SystemExit(f"the simulator exited with code {proc.returncode}:\n{err[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}?ping", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the simulator did not answer on {url} within {startup_timeout:.0f}s")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def scan(url: str, page_size: int, prefetch: bool) -> tuple[int, int, float]:
    """Returns (rows, pages, seconds) for one full scan, login included."""
    settings = ConnectionSettings(
        base_url=url,
        username="demo",
        password="demo",
        app_id="1001",
        company="1000",
        branch="1000",
        module="0",
        refid="500",
        timeout=60.0,
    )
    rows = pages = 0
    started = time.perf_counter()
    async with SoftOneClient(settings) as client:
        async for page in client.browse("CUSTOMER", page_size=page_size, prefetch=prefetch):
            rows += len(page.rows)
            pages += 1
    return rows, pages, time.perf_counter() - started


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="CUSTOMER rows in the simulator")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--no-prefetch", action="store_true", help="do not fetch the next page ahead")
    parser.add_argument("--url", help="scan an already running simulator instead of starting one")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        url, sim_pid = (args.url, None) if args.url else stack.enter_context(simulator_process(args.rows))
        rss_before = peak_rss_mb()
        cpu_before = cpu_seconds()
        sim_cpu_before = cpu_seconds(sim_pid) if sim_pid else 0.0
        rows, pages, seconds = asyncio.run(scan(url, args.page_size, not args.no_prefetch))
        client_cpu = cpu_seconds() - cpu_before
        sim_cpu = cpu_seconds(sim_pid) - sim_cpu_before if sim_pid else None

    rate = rows / seconds if seconds else 0.0
    rss = peak_rss_mb()
    ceiling = rows / client_cpu if client_cpu else 0.0
    print(f"{'metric':<34}{'value':>14}{'target':>14}")
    print(f"{'rows':<34}{rows:>14,}{args.rows:>14,}")
    print(f"{'pages (size ' + str(args.page_size) + ')':<34}{pages:>14,}")
    print(f"{'seconds (login + scan)':<34}{seconds:>14.2f}")
    print(f"{'rows/s end to end':<34}{rate:>14,.0f}{'>= ' + format(TARGET_ROWS_PER_SECOND, ','):>14}")
    print(f"{'client peak RSS (MB)':<34}{rss:>14.1f}{'<= ' + str(TARGET_PEAK_RSS_MB):>14}")
    print(f"{'client RSS before the scan (MB)':<34}{rss_before:>14.1f}")
    print(f"{'client CPU during the scan (s)':<34}{client_cpu:>14.2f}")
    print(f"{'client-side ceiling (rows/CPU s)':<34}{ceiling:>14,.0f}")
    if sim_cpu is not None:
        print(f"{'simulator CPU during the scan (s)':<34}{sim_cpu:>14.2f}")
        print(f"{'simulator ceiling (rows/CPU s)':<34}{rows / sim_cpu if sim_cpu else 0.0:>14,.0f}")
    print(f"{'prefetch':<34}{'off' if args.no_prefetch else 'on':>14}")
    print(f"{'cores / load average (1 min)':<34}{f'{os.cpu_count()} / {os.getloadavg()[0]:.1f}':>14}")
    if rows != args.rows and args.url is None:
        print(f"MISMATCH: scanned {rows:,} rows, the simulator holds {args.rows:,}")
    ok = rows == args.rows and rate >= TARGET_ROWS_PER_SECOND and rss <= TARGET_PEAK_RSS_MB
    print("PASS" if ok else "BELOW TARGET")


if __name__ == "__main__":
    main()
