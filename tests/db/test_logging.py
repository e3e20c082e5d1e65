"""Log output: the text and JSON-lines formats, and secrets masked wherever they would appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from softone_sync.config import load_settings
from softone_sync.logging import clear_registered_secrets, register_secret, setup_logging

CRON_SECRET = "cron-secret-value-123"
ADMIN_TOKEN = "admin-token-value-456"
SECRET_KEY = "secret-key-passphrase-789"

Setup = Callable[..., io.StringIO]


@pytest.fixture
def configure() -> Iterator[Setup]:
    """setup_logging into a buffer; restores the root logger and the secret registry afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_factory = logging.getLogRecordFactory()

    def setup(log_format: str = "text", level: str = "INFO") -> io.StringIO:
        stream = io.StringIO()
        settings = load_settings(
            cron_secret=CRON_SECRET, admin_token=ADMIN_TOKEN, secret_key=SECRET_KEY,
            log_format=log_format, log_level=level,
        )  # fmt: skip
        setup_logging(settings, stream=stream)
        return stream

    yield setup
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    logging.setLogRecordFactory(saved_factory)
    clear_registered_secrets()


def test_text_lines_carry_time_level_and_the_callers_prefix(configure: Setup) -> None:
    out = configure()
    logging.getLogger("softone_sync.schedule.manager").info("[CRON] scheduled %s at %s", "customers", "*/5")
    line = out.getvalue().strip()
    assert line.endswith(" INFO [CRON] scheduled customers at */5")
    assert line[:4].isdigit()  # starts with the timestamp


def test_json_lines_include_the_structured_context(configure: Setup) -> None:
    out = configure("json")
    logging.getLogger("softone_sync.sync.run").warning(
        "[SYNC] run %s failed",
        "r1",
        extra={"action": "run_failed", "integration_id": "i1", "run_id": "r1", "slot": "2025-06-01T12:00Z"},
    )
    entry = json.loads(out.getvalue())
    assert entry["message"] == "[SYNC] run r1 failed"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "softone_sync.sync.run"
    assert (entry["action"], entry["integration_id"], entry["run_id"], entry["slot"]) == (
        "run_failed", "i1", "r1", "2025-06-01T12:00Z",
    )  # fmt: skip
    assert entry["ts"].endswith("+00:00")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_configured_and_registered_secrets_never_reach_the_output(configure: Setup, log_format: str) -> None:
    out = configure(log_format)
    register_secret("erp-password-Κωδικός")
    register_secret("9J8pkfsDQpF4clientID")
    log = logging.getLogger("softone_sync.softone.client")

    log.info("login with %s / %s", "demo", "erp-password-Κωδικός")
    log.info(f"header X-Cron-Secret: {CRON_SECRET}, Bearer {ADMIN_TOKEN}")
    log.info(
        "session %r", {"clientID": "9J8pkfsDQpF4clientID"}, extra={"action": "call 9J8pkfsDQpF4clientID"}
    )
    try:
        raise ValueError(f"could not use key {SECRET_KEY}")
    except ValueError:
        log.exception("failed")

    output = out.getvalue()
    for secret in (CRON_SECRET, ADMIN_TOKEN, SECRET_KEY, "erp-password-Κωδικός", "9J8pkfsDQpF4clientID"):
        assert secret not in output
    assert output.count("***") >= 5
    assert "login with demo / ***" in output


def test_other_handlers_see_redacted_records_too(configure: Setup, caplog: pytest.LogCaptureFixture) -> None:
    """The host application's handlers (here pytest's) must not receive the secret either."""
    configure()
    log = logging.getLogger("softone_sync.api")
    log.info("token %s", CRON_SECRET)
    try:
        raise RuntimeError(ADMIN_TOKEN)
    except RuntimeError:
        log.exception("auth failed")
    assert [record.getMessage() for record in caplog.records] == ["token ***", "auth failed"]
    assert ADMIN_TOKEN not in caplog.text
    assert "RuntimeError: ***" in caplog.text


def test_setup_twice_replaces_its_handler_and_keeps_others(configure: Setup) -> None:
    foreign = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(foreign)
    configure()
    out = configure("json", level="DEBUG")
    logging.getLogger("softone_sync.db").debug("once")
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["once"]
    assert foreign in logging.getLogger().handlers
    assert logging.getLogger().level == logging.DEBUG


def test_short_values_are_not_masked(configure: Setup) -> None:
    out = configure()
    register_secret("ab")  # masking two letters everywhere would wreck every line
    logging.getLogger("softone_sync").info("about tables")
    assert "about tables" in out.getvalue()


def test_database_password_and_webhook_url_are_masked_in_tracebacks() -> None:
    """An unexpected error's traceback is logged for the operator; the DSN's password never is."""
    import io
    import logging

    from softone_sync.config import load_settings
    from softone_sync.logging import setup_logging

    stream = io.StringIO()
    settings = load_settings(
        database_url="postgresql://app:Sup3r-Secret-Pw@db.internal:5432/app",
        notify_webhook_url="https://hooks.example/T0K3N-abcdef",
    )
    handler = setup_logging(settings, stream=stream)
    try:
        try:
            raise RuntimeError("could not connect to postgresql://app:Sup3r-Secret-Pw@db.internal/app")
        except RuntimeError:
            logging.getLogger("softone_sync.api").exception("unexpected RuntimeError on GET /x")
        logging.getLogger("softone_sync.notify").warning(
            "posting to %s", "https://hooks.example/T0K3N-abcdef"
        )
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text and "RuntimeError" in text
    assert "Sup3r-Secret-Pw" not in text and "T0K3N-abcdef" not in text


def test_a_clients_erp_password_is_masked_in_logs() -> None:
    """Creating a SoftOneClient registers its password: no log line can carry it, even by accident."""
    import io
    import logging

    from softone_sync.config import load_settings
    from softone_sync.logging import setup_logging
    from softone_sync.softone import ConnectionSettings, SoftOneClient

    stream = io.StringIO()
    handler = setup_logging(load_settings(), stream=stream)
    try:
        SoftOneClient(
            ConnectionSettings(
                base_url="http://127.0.0.1:9/s1services",
                username="u",
                password="Erp-Pa55word!",
                app_id="1001",
            )
        )
        logging.getLogger("softone_sync.test").warning("login with Erp-Pa55word! failed")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "Erp-Pa55word!" not in stream.getvalue() and "***" in stream.getvalue()
