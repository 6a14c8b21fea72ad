"""``triage feedback | models | review | audit``: the learning loop's commands (thin shells over ``learning``).

- ``triage feedback export | import | list`` — corrections as JSON Lines, CSV, Label Studio, Argilla;
- ``triage models list | add | compare | promote | rollback | shadow`` — the registry and its gate;
- ``triage review next`` — what to label next, with the reasons;
- ``triage audit`` — the audit log (the same command as ``triage store audit``).

Model changes are written to the post store's audit log (``--store-url``, TRIAGE_STORE_URL). Heavy imports
(SQLAlchemy, onnxruntime, torch for compare) happen inside the commands.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

import typer

from triage.errors import InputError
from triage_cli.common import echo_json, user_errors

DB_HELP = "Feedback database URL [TRIAGE_DATABASE_URL, sqlite:///./triage-feedback.db]."
STORE_HELP = "Post store URL for the audit log [TRIAGE_STORE_URL, sqlite:///./triage-store.db]."
REGISTRY_HELP = "Registry folder [TRIAGE_REGISTRY, models/registry]."

feedback_app = typer.Typer(help="Agents' corrections: list, export and import (JSON Lines, CSV, Label Studio, "
                           "Argilla). See docs/LEARNING.md.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: list, add, compare, promote, rollback, shadow. "
                         "See docs/LEARNING.md.", no_args_is_help=True)
review_app = typer.Typer(help="Active learning: which stored posts to label next.", no_args_is_help=True)


def _db(url: str | None) -> str:
    return url or os.environ.get("TRIAGE_DATABASE_URL", "").strip() or "sqlite:///./triage-feedback.db"


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _schema(model: Path | None) -> Any:
    from triage.artifact import read_manifest
    from triage.resources import default_model_dir

    return read_manifest(model or default_model_dir()).label_schema


def _registry(path: Path | None, *, create: bool = False) -> Any:
    """The registry; an explicitly named folder must exist unless the command creates one (``add``), so a
    mistyped ``--registry`` is an error rather than an empty registry."""
    from learning.registry import Registry

    registry = Registry(path)
    if path is not None and not create and not registry.file.is_file():
        raise InputError(f"{path} holds no registry ({registry.file.name}); `triage models add MODEL --registry "
                         f"{path}` creates one", code="no_registry", field="registry")
    return registry


def _audit(action: str, *, actor: str, model_version: str | None, reason: str, store_url: str | None,
           subject: str | None = None) -> None:
    from learning.audit import record_model_event

    if record_model_event(action, actor=actor, model_version=model_version, reason=reason, subject=subject,
                          url=store_url) is None:
        typer.echo(f"warning: the audit log could not be written ({action}); see the log", err=True)


# feedback ----------------------------------------------------------------------------------------------------


@feedback_app.command("export")
def feedback_export(
    out: Path = typer.Option(..., "--out",
                             help="File to write (Label Studio and Argilla also write a config beside it)."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl | csv | label-studio | argilla."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's corrections."),
    head: str | None = typer.Option(None, "--head", help="Only corrections of this head or field."),
    since: str | None = typer.Option(None, "--since", help="Only corrections stored at or after (ISO date)."),
    model: Path | None = typer.Option(None, "--model", help="Model folder whose schema names the labels "
                                      "[models/default]."),
) -> None:
    """Write the stored corrections (redacted text only) for review in another tool."""
    from learning.feedback import FeedbackQuery, export_feedback
    from learning.formats import export_rows

    with user_errors():
        when = _parse_since(since)
        rows = export_feedback(_db(db), tenant, FeedbackQuery(head=head, since=when))
        files = export_rows(rows, fmt, out, _schema(model))
    echo_json({"rows": len(rows), "posts": len({r["post_id"] for r in rows}), "files": [str(f) for f in files]})


def _parse_since(since: str | None) -> Any:
    from datetime import datetime

    if since is None:
        return None
    try:
        return datetime.fromisoformat(since)
    except ValueError:
        raise InputError(f"--since {since!r} is not an ISO date or time", code="invalid_since") from None


@feedback_app.command("import")
def feedback_import(
    path: Path = typer.Argument(..., help="The file to read."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl | csv | label-studio | argilla."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    tenant: str | None = typer.Option(None, "--tenant", help="Store the corrections under this tenant."),
    actor: str | None = typer.Option(None, "--actor", help="Who reviewed (default: the file's annotators)."),
    strict: bool = typer.Option(False, "--strict", help="Store nothing if any row is refused."),
    model: Path | None = typer.Option(None, "--model", help="Model folder whose schema checks the labels."),
) -> None:
    """Read reviewed labels back as corrections (checked against the schema, redacted, not stored twice)."""
    from learning.feedback import FeedbackStore
    from learning.formats import dedupe, prepare_import, read_rows
    from triage.prepare import TextStages

    with user_errors():
        raw = read_rows(path, fmt)
        rows, errors = prepare_import(raw, _schema(model), TextStages().redact, tenant=tenant, actor=actor)
        if errors and strict:
            raise InputError(f"{len(errors)} row(s) refused, nothing stored (--strict); first: {errors[0]}",
                             code="invalid_import")
        store = FeedbackStore(_db(db))
        try:
            fresh = dedupe(rows, store.export())
            stored = store.add_many(fresh) if fresh else []
        finally:
            store.close()
    for message in errors[:20]:
        typer.echo(f"refused: {message}", err=True)
    echo_json({"read": len(raw), "stored": len(stored), "already_stored": len(rows) - len(fresh),
               "refused": len(errors)})


@feedback_app.command("list")
def feedback_list(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    post_id: str | None = typer.Option(None, "--post-id"),
    head: str | None = typer.Option(None, "--head"),
    limit: int = typer.Option(50, "--limit"),
    after: int | None = typer.Option(None, "--after", help="Row id to start after (paging)."),
) -> None:
    """Stored corrections, oldest first (JSON lines)."""
    from learning.feedback import FeedbackQuery, FeedbackStore

    with user_errors():
        store = FeedbackStore(_db(db))
        try:
            rows, _ = store.page(FeedbackQuery(post_id=post_id, head=head), limit=limit, after=after)
        finally:
            store.close()
    for row in rows:
        typer.echo(json.dumps(row, ensure_ascii=False))


# models ------------------------------------------------------------------------------------------------------


@models_app.command("list")
def models_list(registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP)) -> None:
    """Registered models with their status (live, shadow, previous, candidate) and last comparison."""
    with user_errors():
        reg = _registry(registry)
        data = reg.load()
        echo_json({"registry": str(reg.root), "live": data["live"], "shadow": data["shadow"], "models": reg.listing()})


@models_app.command("add")
def models_add(
    model_dir: Path = typer.Argument(..., help="An exported model folder (triage export)."),
    run: Path | None = typer.Option(None, "--run", help="The run folder that trained it (its run.json is recorded "
                                    "and a 'trained' entry written to the audit log)."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    parent: str | None = typer.Option(None, "--parent", help="The model it was trained from (name@version; "
                                      "default: a warm start's --from model, read from --run)."),
    actor: str | None = typer.Option(None, "--actor"),
    store_url: str | None = typer.Option(None, "--store-url", help=STORE_HELP),
) -> None:
    """Copy a model folder into the registry as a candidate (its hashes are verified first)."""
    from learning.registry import model_key

    with user_errors():
        trained = _run_info(run) if run is not None else None
        warm = (trained or {}).get("warm_start") or {}
        entry = _registry(registry, create=True).add(model_dir, parent=parent or warm.get("from_version"),
                                                     source=str(run or model_dir))
        key = model_key(model_dir)
    if trained is not None:
        counts = warm.get("counts", {})
        what = (f"warm start from {warm.get('from_version')} with {counts.get('train_posts')} corrected posts "
                f"({counts.get('held_out_posts')} held out) + replay, {warm.get('seconds')} s"
                if warm else f"trained from recipe, {round(trained.get('seconds') or 0)} s")
        _audit("trained", actor=_actor(actor), model_version=key, reason=f"{what}; run {run}", store_url=store_url)
    _audit("model_added", actor=_actor(actor), model_version=key, reason=f"registered from {model_dir}",
           store_url=store_url)
    echo_json({"model": key, **entry})


def _run_info(run: Path) -> dict[str, Any]:
    path = Path(run) / "run.json"
    if not path.is_file():
        raise InputError(f"--run {run}: no run.json (not a training run folder)", code="not_a_run")
    info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return info


@models_app.command("compare")
def models_compare(
    candidate: str = typer.Argument(..., help="Candidate: name@version in the registry, or a model folder."),
    against: str = typer.Option("live", "--against", help="Current model: live, name@version or a folder."),
    feedback: str | None = typer.Option(None, "--feedback", help=DB_HELP + " Its held-out corrections are a suite."),
    margin: float = typer.Option(0.02, "--margin", help="Largest macro-F1 drop allowed on any gated head."),
    min_rows: int = typer.Option(10, "--min-rows", help="A head is gated only with at least this many rows."),
    real_split: str = typer.Option("test", "--real-split", help="data/real split to score (test, dev)."),
    real_limit: int | None = typer.Option(None, "--real-limit", help="Score the first N real posts only."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    actor: str | None = typer.Option(None, "--actor"),
    store_url: str | None = typer.Option(None, "--store-url", help=STORE_HELP),
    threads: int = typer.Option(2, "--threads"),
) -> None:
    """Score candidate and current model per head (real test split, held-out corrections); exit 1 on a regression."""
    from learning.compare import compare, summary_lines
    from learning.feedback import export_feedback

    with user_errors():
        reg = _registry(registry)
        cand_key, cand_dir = _model_ref(reg, candidate)
        _, curr_dir = _model_ref(reg, against)
        rows = export_feedback(_db(feedback))
        result = compare(cand_dir, curr_dir, rows, margin=margin, min_rows=min_rows, real_split=real_split,
                         real_limit=real_limit, threads=threads)
        if cand_key is not None and (reg.root / "registry.json").is_file():
            reg.record_compare(cand_key, {k: result[k] for k in ("current", "at", "margin", "passed", "regressions")}
                               | {"suites": result["suites"]})
    for line in summary_lines(result):
        typer.echo(line)
    _audit("compared", actor=_actor(actor), model_version=result["candidate"], subject=result["current"],
           reason=("passed" if result["passed"] else "failed: " + "; ".join(result["regressions"]))[:1000],
           store_url=store_url)
    if not result["passed"]:
        raise typer.Exit(1)


def _model_ref(reg: Any, ref: str) -> tuple[str | None, Path]:
    """(registry key or None, folder) of a registry reference or a model folder."""
    path = Path(ref)
    if (path / "manifest.json").is_file():
        from learning.registry import model_key

        key = model_key(path)
        in_registry = key in reg.load()["models"]
        return (key if in_registry else None), path
    key = reg.resolve(ref)
    return key, reg.path(key)


@models_app.command("promote")
def models_promote(
    model: str = typer.Argument(..., help="name@version (or its version) in the registry."),
    force: bool = typer.Option(False, "--force", help="Promote without a passing comparison (needs --reason)."),
    reason: str = typer.Option("", "--reason", help="Why (written to the audit log)."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    actor: str | None = typer.Option(None, "--actor"),
    store_url: str | None = typer.Option(None, "--store-url", help=STORE_HELP),
) -> None:
    """Make a model live; refused unless it passed a comparison against the live model. Servers switch by themselves."""
    with user_errors():
        reg = _registry(registry)
        event = reg.promote(reg.resolve(model), actor=_actor(actor), reason=reason, force=force)
    _audit("promoted_forced" if event["forced"] else "promoted", actor=event["actor"], model_version=event["live"],
           subject=event["previous"], reason=reason or "passed its comparison", store_url=store_url)
    echo_json(event)


@models_app.command("rollback")
def models_rollback(
    reason: str = typer.Option("", "--reason", help="Why (written to the audit log)."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    actor: str | None = typer.Option(None, "--actor"),
    store_url: str | None = typer.Option(None, "--store-url", help=STORE_HELP),
) -> None:
    """Make the previous live model live again."""
    with user_errors():
        event = _registry(registry).rollback(actor=_actor(actor), reason=reason)
    _audit("rolled_back", actor=event["actor"], model_version=event["live"], subject=event["previous"],
           reason=reason or "rollback", store_url=store_url)
    echo_json(event)


@models_app.command("shadow")
def models_shadow(
    model: str | None = typer.Argument(None, help="name@version to score beside the live model."),
    stop: bool = typer.Option(False, "--stop", help="Stop shadow mode."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    actor: str | None = typer.Option(None, "--actor"),
    store_url: str | None = typer.Option(None, "--store-url", help=STORE_HELP),
) -> None:
    """Score a candidate on live traffic beside the live model (GET /v1/models/shadow shows agreement)."""
    with user_errors():
        if stop == (model is not None):
            raise InputError("give a model, or --stop", code="usage")
        reg = _registry(registry)
        event = reg.set_shadow(None if stop else reg.resolve(str(model)), actor=_actor(actor))
    _audit("shadow_stopped" if stop else "shadow_started", actor=event["actor"],
           model_version=event["shadow"] or event["previous"], reason="shadow mode", store_url=store_url)
    echo_json(event)


# review and audit --------------------------------------------------------------------------------------------


@review_app.command("next")
def review_next(
    limit: int = typer.Option(20, "--limit", help="Posts to propose."),
    pool: int = typer.Option(300, "--pool", help="How many of the newest stored posts to consider."),
    brand: str | None = typer.Option(None, "--brand"),
    model: Path | None = typer.Option(None, "--model",
                                      help="Model folder [the registry's live model, else models/default]."),
    store_url: str | None = typer.Option(None, "--store-url", help="Post store URL [TRIAGE_STORE_URL]."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP + " Posts with a correction are left out."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
) -> None:
    """The stored posts an agent should label next, most useful first, with the reasons (JSON lines)."""
    from learning.review import next_posts

    with user_errors():
        if brand is not None:
            _known_brand(brand)
        model_dir = model or _registry(registry).live_dir()
        picks = next_posts(model_dir, store_url, _db(db), limit=limit, pool=pool, brand=brand)
    for item in picks:
        typer.echo(json.dumps(item, ensure_ascii=False))


def _known_brand(brand: str) -> None:
    """A brand must have a policy (``data/policies/<brand>.yaml``): a typo is an error, not an empty queue."""
    from triage.resources import policies_dir

    known = sorted(p.stem for p in policies_dir().glob("*.yaml"))
    if brand not in known:
        raise InputError(f"unknown brand {brand!r} (brands with a policy: {', '.join(known) or 'none'})",
                         code="unknown_brand", field="brand")


def register(app: typer.Typer) -> None:
    """Entry point (group ``triage.commands``): ``triage feedback | models | review | audit``."""
    from store.cli import audit_cmd

    app.add_typer(feedback_app, name="feedback")
    app.add_typer(models_app, name="models")
    app.add_typer(review_app, name="review")
    app.command("audit", help="The audit log (= triage store audit): automated actions, model changes, purges, "
                "retention runs (JSON lines).")(audit_cmd)
