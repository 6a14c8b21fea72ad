"""The work folder ``OUT.partial``: resumable state, one lock, atomic writes.

Each finished chunk k leaves ``part-<k>`` (its output rows), ``rejects-<k>.jsonl`` and ``ids-<k>.bin``
(its id hashes, for duplicate detection), then ``state.json`` records it. A killed job restarted with
the same command checks the input's fingerprint and the options' hash in ``state.json`` and continues
after the last recorded chunk. At the end the parts are joined into temporary files that are renamed
onto the output and its rejects file (atomic on one file system), and the folder is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from batch.report import Tally
from batch.writers import PartWriter
from triage.errors import ConfigError

STATE_VERSION = 2
STATE_FILE = "state.json"
_FINGERPRINT_BYTES = 1 << 16


def fingerprint(path: Path) -> dict[str, Any]:
    """Identifies the input cheaply: path, size, mtime, and hashes of its first and last 64 KiB."""
    st = path.stat()
    with open(path, "rb") as f:
        head = f.read(_FINGERPRINT_BYTES)
        f.seek(max(0, st.st_size - _FINGERPRINT_BYTES))
        tail = f.read(_FINGERPRINT_BYTES)
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "head_sha256": hashlib.sha256(head).hexdigest(),
        "tail_sha256": hashlib.sha256(tail).hexdigest(),
    }


def options_hash(plan: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class JobState:
    """What ``state.json`` holds: which job this is, and how far it got."""

    fingerprint: dict[str, Any]
    options_hash: str
    reclassified_at: str
    chunks_done: int = 0
    rows_done: int = 0
    tally: Tally = field(default_factory=Tally)

    def to_json(self) -> str:
        return json.dumps({"version": STATE_VERSION, **asdict(self)}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> JobState | None:
        """The state, or None when it is unreadable or from another version (the job starts over)."""
        try:
            data = json.loads(text)
            if data.pop("version", None) != STATE_VERSION:
                return None
            data["tally"] = Tally.from_json(data["tally"])
            return cls(**data)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


class WorkDir:
    """``OUT.partial``: the parts of an unfinished job."""

    def __init__(self, output: Path) -> None:
        self.path = output.with_name(output.name + ".partial")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One job per output at a time; the lock dies with its process, so a killed job never blocks a rerun."""
        self.path.mkdir(exist_ok=True)
        with open(self.path / "lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(f"another job is writing {self.path}; wait for it or stop it") from None
            yield

    def load(self) -> JobState | None:
        path = self.path / STATE_FILE
        return JobState.from_json(path.read_text(encoding="utf-8")) if path.is_file() else None

    def save(self, state: JobState) -> None:
        atomic_write(self.path / STATE_FILE, state.to_json().encode("utf-8"))

    def start(self, state: JobState) -> None:
        """Forget whatever an earlier job left here and record ``state``."""
        for stale in self.path.iterdir():
            if stale.name != "lock":
                stale.unlink()
        self.save(state)

    def part(self, k: int, suffix: str) -> Path:
        return self.path / f"part-{k:06d}{suffix}"

    def commit_chunk(
        self, k: int, writer: PartWriter, scored: Any, rejects: bytes, hashes: np.ndarray
    ) -> None:
        """Write chunk k's part, rejects and id hashes, each atomically (the state is saved after)."""
        tmp = self.path / f"part-{k:06d}.tmp"
        writer.write_part(scored, tmp)
        fsync(tmp)
        os.replace(tmp, self.part(k, writer.suffix))
        atomic_write(self.path / f"rejects-{k:06d}.jsonl", rejects)
        atomic_write(self.path / f"ids-{k:06d}.bin", hashes.astype("<u8").tobytes())

    def id_hashes(self, chunks: int) -> Iterator[np.ndarray]:
        """The id hashes of the first ``chunks`` chunks (a resumed job's duplicate detection)."""
        for k in range(chunks):
            yield np.frombuffer((self.path / f"ids-{k:06d}.bin").read_bytes(), dtype="<u8").astype(np.uint64)

    def finish(self, writer: PartWriter, chunks: int, output: Path, rejects: Path) -> None:
        """Join the parts into temporary files and rename them into place: OUT appears whole or not at all."""
        parts = [self.part(k, writer.suffix) for k in range(chunks)]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise RuntimeError(f"{self.path} lacks {missing[:3]}: rerun with --restart")
        tmp_rejects = self.path / "rejects.final.tmp"
        with open(tmp_rejects, "wb") as out:
            for k in range(chunks):
                with open(self.path / f"rejects-{k:06d}.jsonl", "rb") as src:
                    shutil.copyfileobj(src, out)
        fsync(tmp_rejects)
        tmp_out = self.path / f"output.final.tmp{writer.suffix}"
        writer.concat(parts, tmp_out)
        fsync(tmp_out)
        # Rejects first: the output's presence means the job is complete, rejects included.
        os.replace(tmp_rejects, rejects)
        os.replace(tmp_out, output)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
