"""What a job did: per-chunk tallies (kept in the state file across a resume) and the final report.

Every input row is counted once: ``rows == scored + manual + rejected + skipped``. Skipped rows are
blank lines (listed in the rejects file with code ``blank_line``, not written to the output).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from batch.columns import (
    ERROR,
    ID,
    OLD,
    OUT,
    ROW,
    STATUS,
    STATUS_MANUAL,
    STATUS_OK,
    STATUS_REJECTED,
    STATUS_SKIPPED,
)

_EXAMPLE_CHARS = 200


@dataclass
class HeadTally:
    """Label changes of one head against the labels already in the input."""

    compared: int = 0
    changed: int = 0
    transitions: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Tally:
    """What a job did, chunk after chunk; JSON-serialisable so that it survives in the state file."""

    rows: int = 0
    scored: int = 0
    manual: int = 0
    rejected: int = 0
    skipped: int = 0
    rejects_by_code: dict[str, int] = field(default_factory=dict)
    heads: dict[str, HeadTally] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        heads = {h: HeadTally(**v) for h, v in data.get("heads", {}).items()}
        return cls(**{**data, "heads": heads})

    def add(self, scored: pa.Table, heads: tuple[str, ...], max_examples: int) -> None:
        status = scored.column(STATUS).to_pylist()
        self.rows += len(status)
        self.scored += status.count(STATUS_OK)
        self.manual += status.count(STATUS_MANUAL)
        self.rejected += status.count(STATUS_REJECTED)
        self.skipped += status.count(STATUS_SKIPPED)
        for code, s in zip(scored.column(ERROR).to_pylist(), status, strict=True):
            if s == STATUS_REJECTED:
                self.rejects_by_code[code] = self.rejects_by_code.get(code, 0) + 1
        for head in heads:
            self._add_head(scored, status, head, max_examples)

    def _add_head(self, scored: pa.Table, status: list[str], head: str, max_examples: int) -> None:
        tally = self.heads.setdefault(head, HeadTally())
        old = scored.column(OLD + head).to_pylist()
        new = scored.column(OUT + head).to_pylist()
        for i, s in enumerate(status):
            if s != STATUS_OK or old[i] is None:
                continue
            tally.compared += 1
            if old[i] == new[i]:
                continue
            tally.changed += 1
            key = f"{old[i]} -> {new[i]}"
            tally.transitions[key] = tally.transitions.get(key, 0) + 1
            if len(tally.examples) < max_examples:
                tally.examples.append(
                    {
                        "row": scored.column(ROW)[i].as_py(),
                        "id": scored.column(ID)[i].as_py(),
                        "old": old[i],
                        "new": new[i],
                        "confidence": json.loads(scored.column(OUT + f"p_{head}")[i].as_py()).get(new[i]),
                        # Redacted: examples end up in logs and terminals.
                        "redacted_text": (scored.column(OUT + "redacted_text")[i].as_py() or "")[
                            :_EXAMPLE_CHARS
                        ],
                    }
                )


@dataclass
class ReclassifyReport:
    """The summary of a job (or of a dry run, which writes nothing)."""

    input: str
    output: str | None
    rejects: str | None
    engine: str
    model_version: str
    reclassified_at: str
    dry_run: bool
    rows: int
    scored: int
    manual: int
    rejected: int
    skipped: int
    rejects_by_code: dict[str, int]
    heads: dict[str, HeadTally]
    resumed_from_row: int
    rows_this_run: int
    elapsed_s: float
    rows_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> dict[str, int]:
        return {h: t.changed for h, t in self.heads.items()}

    @classmethod
    def of(cls, tally: Tally, *, rows_this_run: int, elapsed_s: float, **about: Any) -> ReclassifyReport:
        """The report of a job from its tally; ``about``: input, output, rejects, engine, model_version..."""
        return cls(
            rows=tally.rows,
            scored=tally.scored,
            manual=tally.manual,
            rejected=tally.rejected,
            skipped=tally.skipped,
            rejects_by_code=dict(sorted(tally.rejects_by_code.items())),
            heads=tally.heads,
            rows_this_run=rows_this_run,
            elapsed_s=round(elapsed_s, 3),
            rows_per_s=round(rows_this_run / elapsed_s, 2) if elapsed_s > 0 else 0.0,
            **about,
        )


def summary_lines(report: ReclassifyReport) -> list[str]:
    """The command's summary of a report, a few lines of text."""
    lines = [
        f"rows: {report.rows}  scored: {report.scored}  manual (kept): {report.manual}  "
        f"rejected: {report.rejected}"
        + (f" {report.rejects_by_code}" if report.rejects_by_code else "")
        + (f"  skipped (blank lines): {report.skipped}" if report.skipped else ""),
    ]
    verb = "would change" if report.dry_run else "changed"
    for head, tally in report.heads.items():
        if tally.compared:
            share = 100.0 * tally.changed / tally.compared
            lines.append(f"{head}: {tally.changed} of {tally.compared} labels {verb} ({share:.1f}%)")
        else:
            lines.append(f"{head}: no labels in the input to compare with")
    resumed = f" (resumed at row {report.resumed_from_row})" if report.resumed_from_row else ""
    lines.append(
        f"{report.rows_this_run} rows in {report.elapsed_s:.1f} s = {report.rows_per_s:.1f} rows/s "
        f"[{report.engine} engine, {report.model_version}]{resumed}"
    )
    if not report.dry_run:
        lines.append(f"output: {report.output}  rejects: {report.rejects}")
    return lines
