"""GET /v1/model: what is loaded, and the API's limits."""

from fastapi import APIRouter

from serving.deps import CallerDep, EngineDep, SettingsDep
from serving.openapi import error_responses
from serving.schemas import Limits, ModelInfo

router = APIRouter(tags=["model"])


@router.get("/v1/model", response_model=ModelInfo, summary="The loaded model", responses=error_responses(503))
async def model_info(caller: CallerDep, engine: EngineDep, settings: SettingsDep) -> ModelInfo:
    """Model version, label schema, evaluation summary, brands and the API's limits."""
    info = engine.model_info
    brands = engine.brands
    return ModelInfo.model_validate(
        {
            "model_version": info.version,
            "schema_name": engine.schema_name,
            "schema": engine.classifier.schema,
            "metrics": info.metrics,
            "brands": sorted(brands) if brands is not None else None,
            "microbatch": settings.microbatch,
            "limits": Limits(
                max_batch=settings.max_batch, max_chars=settings.max_chars, max_body_bytes=settings.max_body_bytes,
                request_timeout_s=settings.request_timeout_s,
            ),
        }
    )
