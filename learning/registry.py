"""The model registry: a folder of model versions, which one is live, and how it got there.

::

    REGISTRY/                       TRIAGE_REGISTRY (default: models/registry under the project home)
      registry.json                 live, shadow, history of promotions and rollbacks, one entry per model
      models/<name>@<version>/      a copy of each registered model folder (verified against its manifest)
      .lock                         serialises writers (several CLI calls, a promotion during a compare)

``registry.json`` is the only truth: ``live`` is the model every server worker runs (a worker started
with ``TRIAGE_REGISTRY`` reloads when it changes), ``shadow`` the one scored beside it. A promotion needs
a passing comparison against the model live at that moment (``learning.compare``), or ``force`` with a
reason; ``rollback`` makes the previous live model live again. Writes are atomic (a temporary file, then
a rename), so a server reading the file never sees half of it. Standard library only: the server reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage.artifact import read_manifest, verify_artifact
from triage.errors import ConfigError, InputError

REGISTRY_ENV = "TRIAGE_REGISTRY"
REGISTRY_JSON = "registry.json"
FORMAT = 1


def default_registry() -> Path:
    """``TRIAGE_REGISTRY``, else ``models/registry`` under the project home."""
    env = os.environ.get(REGISTRY_ENV, "").strip()
    if env:
        return Path(env)
    from triage.resources import project_home

    return project_home() / "models" / "registry"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def model_key(model_dir: Path) -> str:
    """``name@version`` of a model folder, from its manifest (what results carry as model_version)."""
    manifest = read_manifest(Path(model_dir))
    return f"{manifest.name}@{manifest.version}"


def _empty() -> dict[str, Any]:
    return {"format": FORMAT, "live": None, "shadow": None, "history": [], "models": {}}


class Registry:
    """One registry folder. Read methods never lock; every change takes the lock and rewrites the JSON."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_registry()

    @property
    def file(self) -> Path:
        return self.root / REGISTRY_JSON

    # -- reading ---------------------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        if not self.file.is_file():
            return _empty()
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.file} is not readable JSON ({exc})", code="invalid_registry") from None
        return {**_empty(), **data}

    def fingerprint(self) -> tuple[int, int] | None:
        """(mtime_ns, size) of registry.json, or None: what a server polls to notice a change cheaply."""
        try:
            st = self.file.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def entry(self, key: str) -> dict[str, Any]:
        data = self.load()
        if key not in data["models"]:
            known = ", ".join(sorted(data["models"])) or "none"
            raise InputError(f"no model {key!r} in the registry {self.root} (models: {known})", code="unknown_model",
                             field="model")
        return dict(data["models"][key])

    def path(self, key: str) -> Path:
        return self.root / self.entry(key)["path"]

    def live(self) -> str | None:
        live: str | None = self.load()["live"]
        return live

    def live_dir(self) -> Path | None:
        live = self.live()
        return self.path(live) if live else None

    def shadow(self) -> str | None:
        shadow: str | None = self.load()["shadow"]
        return shadow

    def resolve(self, ref: str) -> str:
        """``name@version``, ``live``, ``previous`` or a version that only one model has -> the model's key."""
        data = self.load()
        if ref == "live":
            if not data["live"]:
                raise InputError("no model is live yet: promote one first", code="no_live_model")
            return str(data["live"])
        if ref == "previous":
            previous = self._previous(data)
            if previous is None:
                raise InputError("no earlier live model to go back to", code="no_previous_model")
            return previous
        if ref in data["models"]:
            return ref
        matches = [k for k in data["models"] if k.split("@", 1)[-1] == ref]
        if len(matches) == 1:
            return matches[0]
        self.entry(ref)  # raises unknown_model, naming the models there are
        return ref

    def listing(self) -> list[dict[str, Any]]:
        """Every model, oldest first, with its status (live, shadow, previous, candidate) and last comparison."""
        data = self.load()
        previous = self._previous(data)
        out = []
        for key, entry in sorted(data["models"].items(), key=lambda kv: kv[1].get("added_at", "")):
            status = ("live" if key == data["live"] else "shadow" if key == data["shadow"]
                      else "previous" if key == previous else "candidate")
            compare = entry.get("compare") or {}
            out.append({"model": key, "status": status, "added_at": entry.get("added_at"),
                        "parent": entry.get("parent"), "source": entry.get("source"),
                        "compared_with": compare.get("current"), "compare_passed": compare.get("passed")})
        return out

    @staticmethod
    def _previous(data: dict[str, Any]) -> str | None:
        """The model that was live before the current one (what rollback goes back to).

        Promotions push onto a stack of live models and rollbacks pop it, so a second rollback goes one
        step further back rather than returning to the model just rolled back from.
        """
        stack: list[str] = []
        for event in data["history"]:
            if event.get("action") == "promote":
                stack.append(str(event["live"]))
            elif event.get("action") == "rollback" and stack:
                stack.pop()
        return stack[-2] if len(stack) >= 2 else None

    # -- changing --------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Hold the lock, yield the registry's data, write it back atomically when the block ends."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a+") as lock:
            with contextlib.suppress(ImportError):
                import fcntl

                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            data = self.load()
            yield data
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".registry-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
            os.replace(tmp, self.file)

    def add(self, model_dir: Path, *, source: str | None = None, parent: str | None = None) -> dict[str, Any]:
        """Copy a verified model folder into the registry as a candidate; its entry (idempotent per files)."""
        model_dir = Path(model_dir)
        manifest = verify_artifact(model_dir)
        key = f"{manifest.name}@{manifest.version}"
        target = self.root / "models" / key
        with self._locked() as data:
            if key in data["models"]:
                existing = read_manifest(self.root / data["models"][key]["path"])
                if existing.files != manifest.files:
                    raise InputError(f"{key} is already registered with other files: export with a new "
                                     "export.version", code="model_exists", field="model")
                return dict(data["models"][key])
            tmp = target.with_name(target.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(model_dir, tmp)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
            entry = {"path": str(target.relative_to(self.root)), "added_at": now_iso(),
                     "source": source or str(model_dir),
                     "parent": parent or manifest.training.get("warm_start", {}).get("from"),
                     "schema": manifest.label_schema.name, "compare": None}
            data["models"][key] = entry
        return entry

    def record_compare(self, key: str, result: dict[str, Any]) -> None:
        with self._locked() as data:
            if key not in data["models"]:
                raise InputError(f"no model {key!r} in the registry", code="unknown_model", field="model")
            data["models"][key]["compare"] = result

    def promote(self, key: str, *, actor: str, reason: str = "", force: bool = False) -> dict[str, Any]:
        """Make ``key`` live; refused unless its last comparison against the live model passed (or ``force``)."""
        with self._locked() as data:
            if key not in data["models"]:
                raise InputError(f"no model {key!r} in the registry", code="unknown_model", field="model")
            current = data["live"]
            if current == key:
                raise InputError(f"{key} is already live", code="already_live", field="model")
            check = gate(data["models"][key].get("compare"), current)
            if check and not force:
                raise InputError(f"promotion of {key} refused: {check}", code="promotion_refused", field="model")
            if check and not reason.strip():
                raise InputError("--force needs a --reason (it is written to the audit log)", code="reason_required")
            event = {"at": now_iso(), "action": "promote", "live": key, "previous": current, "actor": actor,
                     "reason": reason, "forced": bool(check)}
            data["live"] = key
            if data["shadow"] == key:
                data["shadow"] = None
            data["history"].append(event)
        return event

    def rollback(self, *, actor: str, reason: str = "") -> dict[str, Any]:
        """Make the model that was live before the current one live again."""
        with self._locked() as data:
            previous = self._previous(data)
            if previous is None or previous not in data["models"]:
                raise InputError("no earlier live model to go back to", code="no_previous_model")
            event = {"at": now_iso(), "action": "rollback", "live": previous, "previous": data["live"],
                     "actor": actor, "reason": reason, "forced": False}
            data["live"] = previous
            data["history"].append(event)
        return event

    def set_shadow(self, key: str | None, *, actor: str) -> dict[str, Any]:
        """Score ``key`` beside the live model on live traffic (None: stop)."""
        with self._locked() as data:
            if key is not None and key not in data["models"]:
                raise InputError(f"no model {key!r} in the registry", code="unknown_model", field="model")
            if key is not None and key == data["live"]:
                raise InputError(f"{key} is live; shadow a candidate", code="already_live", field="model")
            event = {"at": now_iso(), "action": "shadow", "shadow": key, "previous": data["shadow"], "actor": actor}
            data["shadow"] = key
        return event


def gate(compare: dict[str, Any] | None, current: str | None) -> str | None:
    """Why a promotion must be refused (None: it may go ahead)."""
    if current is None:
        return None  # the first model of a registry: nothing to compare with
    if not compare:
        return f"it was never compared with the live model {current}: run `triage models compare` first"
    if compare.get("current") != current:
        return (f"its comparison was against {compare.get('current')}, but {current} is live now: "
                "compare again")
    if not compare.get("passed"):
        regressions = "; ".join(compare.get("regressions", [])) or "see the comparison"
        return f"it regressed beyond the margin: {regressions}"
    return None
