"""Tests of the db part: schema, migrations, engine, leases, crypto, logging, CLI."""
