"""Progress of a job: a sink the job tells how many rows it finished (the CLI's is a tqdm bar)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class ProgressSink(Protocol):
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


# (estimated total rows, rows already done) -> a progress sink
ProgressFactory = Callable[[int, int], ProgressSink]


def tqdm_progress(total: int, initial: int) -> ProgressSink:
    """A tqdm bar on stderr with rows/s and ETA (the CLI's progress display)."""
    from tqdm import tqdm

    bar: Any = tqdm(
        total=total or None, initial=initial, unit="rows", unit_scale=True, dynamic_ncols=True, smoothing=0.1
    )
    return bar
