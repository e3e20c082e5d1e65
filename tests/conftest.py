"""Shared fixtures live in tests/fixtures/; each part owns its own module there."""

pytest_plugins = ["tests.fixtures.db", "tests.fixtures.simulator"]
