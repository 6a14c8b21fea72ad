"""Exit statuses of worker processes, and how a worker knows it runs under ``serving.supervisor``.

The supervisor decides from a worker's exit status what to do: replace it, or stop the server with one
clear error line (a worker that cannot start would fail the same way again, in a loop).
"""

from __future__ import annotations

import os

EXIT_CONFIG = 2  # the settings are invalid: also what `triage serve` exits with for any user error
EXIT_STARTUP = 3  # uvicorn's STARTUP_FAILURE: the lifespan failed (no model, a broken model, a bad policy)
EXIT_CRASHED = 70  # an unexpected exception escaped the worker (logged as one JSON line)
EXIT_RECYCLED = 75  # the worker stopped itself after an inference call got stuck; it is replaced

SUPERVISED_ENV = "TRIAGE_SUPERVISED_WORKER"


def supervised() -> bool:
    """True in a worker process started by ``serving.supervisor`` (which replaces workers that exit)."""
    return os.environ.get(SUPERVISED_ENV) == "1"
