"""Column names and row statuses shared by every part of a job.

A *work table* is an Arrow table of at most ``chunk_size`` rows: the input's own columns unchanged (the
*carry*) plus *control columns* named ``__triage_*`` (global row index, the post's id and text, channel,
time, manual flag, the labels already in the input, and any problem found while reading). Scoring adds
``__triage_out_*`` result columns and ``__triage_status``. Control columns travel with the rows (also
through worker processes and Ray) and never reach the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

PREFIX = "__triage_"
ROW = PREFIX + "row"
ID = PREFIX + "id"
TEXT = PREFIX + "text"
CHANNEL = PREFIX + "channel"
CREATED_AT = PREFIX + "created_at"
MANUAL = PREFIX + "manual"
ERROR = PREFIX + "error"
ERROR_FIELD = PREFIX + "error_field"
ERROR_MSG = PREFIX + "error_msg"
OLD = PREFIX + "old_"
LINE = PREFIX + "line"  # JSON Lines: the raw line is the whole carry
OUT = PREFIX + "out_"
STATUS = PREFIX + "status"

TIMESTAMP = pa.timestamp("us", tz="UTC")

# Row statuses (the output's ``reclassify_status``; skipped rows are not written, only reported).
STATUS_OK = "ok"
STATUS_MANUAL = "manual"
STATUS_REJECTED = "rejected"
STATUS_SKIPPED = "skipped"

# Read problems that make a row skipped rather than rejected: it is counted and listed in the rejects
# file but not written to the output (a blank line holds nothing to write).
BLANK_LINE = "blank_line"
SKIP_CODES = frozenset({BLANK_LINE})
DUPLICATE_ID = "duplicate_id"

# A problem found while reading a row: (code, field or None, message).
ReadError = tuple[str, str | None, str]


@dataclass(frozen=True)
class Columns:
    """Which input columns feed the post. ``channel`` and ``created_at`` are used only when present."""

    id: str = "id"
    text: str = "text"
    channel: str | None = "channel"
    created_at: str | None = None
    manual: str | None = None
    # Label columns already in the input, one per model head: compared (--dry-run, summary) and kept
    # for manual rows. Set by the job from the model's schema.
    heads: tuple[str, ...] = ()
