"""GET /v1/incidents and GET /v1/incidents/{incident_id}: what the crisis detector found in the stream.

The detector's state lives in the post store (shared by every worker), so any worker answers with every
worker's incidents. A key scoped to brands sees only its brands' incidents. Without the post store (or with
``TRIAGE_STREAM_DETECT=false``) both answer ``503 store_not_configured``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from serving.deps import CallerDep, TrackerDep
from serving.errors import ApiError
from serving.openapi import error_responses
from store.stream import brand_of_incident, list_incidents
from triage.stream import Incident

router = APIRouter(tags=["stream"])
StateFilter = Literal["open", "opened", "growing", "resolved", "all"]


class IncidentList(BaseModel):
    incidents: list[Incident]


@router.get(
    "/v1/incidents", response_model=IncidentList, summary="Incidents found in the stream",
    responses=error_responses(403, 422, 503),
)
async def incidents(
    caller: CallerDep,
    tracker: TrackerDep,
    brand: Annotated[str | None, Query(max_length=64, description="Only this brand.")] = None,
    state: Annotated[StateFilter, Query(description="open (opened or growing), opened, growing, resolved, "
                                        "or all (resolved ones are kept a week).")] = "open",
) -> IncidentList:
    """Incidents newest first, with their evidence: counts per channel, example post ids, reasons."""
    if brand is not None and caller is not None and not caller.key.allows(brand):
        raise ApiError(403, "forbidden_brand", f"this API key may not read brand {brand!r}", field="brand")

    def read() -> list[Incident]:
        brands = [brand] if brand is not None else None
        found = list_incidents(tracker, brands=brands, state=state)
        return [i for i in found if caller is None or caller.key.allows(i.brand)]

    return IncidentList(incidents=await run_in_threadpool(read))


@router.get(
    "/v1/incidents/{incident_id}", response_model=Incident, summary="One incident",
    responses=error_responses(404, 503),
)
async def incident(incident_id: str, caller: CallerDep, tracker: TrackerDep) -> Incident:
    """One incident (``<brand>-<number>``) with its lifecycle and evidence."""
    missing = ApiError(404, "unknown_incident", f"no incident {incident_id!r}", field="incident_id")
    try:
        brand = brand_of_incident(incident_id)
    except ValueError:
        raise missing from None
    if caller is not None and not caller.key.allows(brand):
        raise missing
    found = await run_in_threadpool(tracker.incident, brand, incident_id)
    if found is None:
        raise missing
    return found
