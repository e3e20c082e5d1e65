"""The ``softone-sync`` command: one root Typer app, one sub-module per part of the product."""

from __future__ import annotations

import typer

from softone_sync.cli import conflicts, cron, db, runs, serve, simulator, sync, worker

app = typer.Typer(
    name="softone-sync",
    help="Keep SoftOne ERP and your application's database in sync, on a schedule.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Each part registers its commands on the root app; see the sub-modules.
for part in (db, simulator, sync, runs, cron, serve, conflicts, worker):
    part.register(app)


def main() -> None:
    app()
