"""Two-way sync: the application's changes go back to SoftOne, without echoes, duplicates or lost updates.

Enable two-way on an integration with :func:`enable_two_way` (installs the capture triggers and
takes the current table as the baseline), disable it with :func:`disable_two_way`. A run of a
two-way integration then pushes the captured changes first and pulls second (see
:mod:`softone_sync.sync.twoway.push` for the order and why). Manual conflicts are settled with
:func:`resolve_conflict`.

Exports are lazy: :mod:`softone_sync.sync.twoway.models` must stay importable on its own (the
migration check imports the models without the sync engine).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CaptureError": "softone_sync.sync.twoway.capture",
    "install_capture": "softone_sync.sync.twoway.capture",
    "remove_capture": "softone_sync.sync.twoway.capture",
    "capture_installed": "softone_sync.sync.twoway.capture",
    "enable_two_way": "softone_sync.sync.twoway.enable",
    "disable_two_way": "softone_sync.sync.twoway.enable",
    "ConflictError": "softone_sync.sync.twoway.conflicts",
    "resolve_conflict": "softone_sync.sync.twoway.conflicts",
    "list_conflicts": "softone_sync.sync.twoway.conflicts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'softone_sync.sync.twoway' has no attribute {name!r}")
    return getattr(import_module(module), name)
