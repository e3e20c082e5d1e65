"""CLI commands of the simulator part: ``softone-sync simulator`` serves a SoftOne simulator."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
    app.command("simulator")(simulator)


def simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated data (same seed, same rows).")] = 1,
    customers: Annotated[int, typer.Option(min=1, max=1_000_000, help="CUSTOMER rows.")] = 1000,
    items: Annotated[int, typer.Option(min=1, max=1_000_000, help="ITEM rows.")] = 500,
    session_ttl: Annotated[
        float | None,
        typer.Option("--session-ttl", min=0.001, help="clientID lifetime in seconds (-101 after)."),
    ] = None,
    session_max_calls: Annotated[
        int | None, typer.Option(min=1, help="Calls a clientID may make before it expires.")
    ] = None,
    reqid_ttl: Annotated[float, typer.Option(min=0.001, help="Browser reqID lifetime in seconds.")] = 600,
) -> None:
    """Serve a SoftOne Web Services simulator at http://HOST:PORT/s1services (login demo/demo, appId 1001)."""
    from softone_sync.softone.simulator import SimulatorConfig, serve

    config = SimulatorConfig(
        seed=seed,
        customers=customers,
        items=items,
        session_ttl_seconds=session_ttl,
        session_max_calls=session_max_calls,
        reqid_ttl_seconds=reqid_ttl,
    )
    typer.echo(
        f"SoftOne simulator: http://{host}:{port}/s1services — {customers:,} customers, {items:,} items, "
        f"seed {seed}; login demo/demo, appId {config.app_id}; control surface under /_sim/"
    )
    serve(config, host=host, port=port)
