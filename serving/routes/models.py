"""GET /v1/models and GET /v1/models/shadow: the registry as this worker sees it, and shadow agreement.

Promotion and rollback are ``triage models promote | rollback`` (they need the comparison gate and write
the audit log); every worker notices the registry's change and switches by itself (``serving.live``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from serving.deps import CallerDep
from serving.errors import ApiError
from serving.live import LiveDep, LiveState
from serving.openapi import error_responses

router = APIRouter(tags=["model"])


class RegistryView(BaseModel):
    worker: dict[str, Any] = Field(description="This worker: the model it serves (live), shadow, last load error, "
                                   "how many switches, pid.")
    live: str | None = Field(description="The registry's live model (null without a registry).")
    shadow: str | None
    models: list[dict[str, Any]] = Field(description="Every registered model with its status and last comparison.")


class ShadowView(BaseModel):
    shadow: str | None = Field(description="The model scored beside the live one (null: shadow mode is off).")
    worker: dict[str, Any] | None = Field(description="Agreement per head on this worker's posts, with the top "
                                          "disagreements (live -> shadow).")
    all_workers: dict[str, Any] | None = Field(description="Agreement per head summed over every worker "
                                               "(the triage_shadow_compared metric).")


def _registry_view(live: LiveState) -> RegistryView:
    if live.registry is None:
        return RegistryView(worker=live.status(), live=None, shadow=None, models=[])
    data = live.registry.load()
    return RegistryView(worker=live.status(), live=data["live"], shadow=data["shadow"],
                        models=live.registry.listing())


@router.get("/v1/models", response_model=RegistryView, summary="The model registry",
            responses=error_responses(503))
async def models(caller: CallerDep, live: LiveDep) -> RegistryView:
    """Registered models (live, shadow, previous, candidates) and what this worker serves."""
    try:
        return await run_in_threadpool(_registry_view, live)
    except Exception as exc:
        raise ApiError(503, "storage_unavailable", f"the model registry cannot be read: {type(exc).__name__}") from None


def merged_agreement(live: LiveState) -> dict[str, Any] | None:
    """Agreement per head from the shadow metric (every worker's counts in multi-process mode)."""
    if live._shadow_counter is None and not live.metrics.multiprocess_dir:
        return None
    registry = live.metrics.registry
    if live.metrics.multiprocess_dir:
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=live.metrics.multiprocess_dir)
    counts: dict[str, dict[str, float]] = {}
    for metric in registry.collect():
        if metric.name != "triage_shadow_compared":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                per = counts.setdefault(sample.labels["head"], {"n": 0.0, "agree": 0.0})
                per["n"] += sample.value
                per["agree"] += sample.value if sample.labels["agree"] == "true" else 0.0
    if not counts:
        return None
    return {h: {"n": int(c["n"]), "agree": int(c["agree"]), "agreement": round(c["agree"] / c["n"], 4) if c["n"]
                else None}
            for h, c in sorted(counts.items())}


@router.get("/v1/models/shadow", response_model=ShadowView, summary="Shadow model agreement")
async def shadow(caller: CallerDep, live: LiveDep) -> ShadowView:
    """How often the shadow model agrees with the live one on live posts, per head."""
    snapshot = live.shadow.snapshot() if live.shadow is not None else None
    merged = await run_in_threadpool(merged_agreement, live)
    return ShadowView(shadow=live.shadow_key, worker=snapshot, all_workers=merged)
