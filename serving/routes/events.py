"""POST /v1/events (helpdesk events on stored posts) and GET /v1/posts/{post_id} (a stored post).

Both need the post store (``TRIAGE_STORE_URL``); without it they answer ``503 store_not_configured``. A key
scoped to brands sees only its brands' posts: another brand's post is ``404 unknown_post``, exactly as a post
that was never stored, so a key cannot learn what other brands received.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from serving.auth import Principal
from serving.bodies import JsonBodyRoute
from serving.deps import CallerDep, get_post_store
from serving.errors import ApiError
from serving.openapi import BODY_ERRORS, error_responses
from store.poststore import PostStore
from store.records import StoredPost
from triage.errors import InputError
from triage.types import EARLIEST_POST, LATEST_POST

router = APIRouter(tags=["stream"], route_class=JsonBodyRoute)
EventKind = Literal["replied", "assigned", "resolved", "hidden"]

EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "replied": {
        "summary": "The brand replied to a post (a retry with the same event_id is recorded once)",
        "value": {"post_id": "fb-10001", "kind": "replied", "actor": "agent-17", "at": "2026-06-07T09:04:00+03:00",
                  "event_id": "zendesk-88123", "note": "שלחנו הודעה פרטית"},
    },
    "resolved": {
        "summary": "The case is closed: later chases of the customer are not follow-ups of an open case",
        "value": {"post_id": "fb-10001", "kind": "resolved", "actor": "agent-17", "event_id": "zendesk-88190"},
    },
}


class EventRequest(BaseModel):
    """A helpdesk event on a stored post: who did what, when. The note is stored redacted."""

    model_config = ConfigDict(extra="forbid")

    post_id: str = Field(min_length=1, max_length=200)
    kind: EventKind
    actor: str = Field(min_length=1, max_length=200, description="Agent, team or system that acted.")
    at: datetime | None = Field(default=None, description="When (RFC 3339 with offset); default: now.")
    note: str | None = Field(default=None, max_length=2000, description="Free text; personal data is redacted.")
    event_id: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="The helpdesk's own id: the same id again is recorded once.")

    @field_validator("at")
    @classmethod
    def _bounded(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry its UTC offset, e.g. 2026-06-07T09:04:00+03:00")
        if not EARLIEST_POST <= value <= LATEST_POST:
            raise ValueError(f"must lie between {EARLIEST_POST.date()} and {LATEST_POST.date()}")
        return value


class EventResponse(BaseModel):
    id: int
    event_id: str | None
    post_id: str
    thread_id: str | None
    brand: str
    kind: str
    actor: str
    at: datetime
    note: str | None
    recorded_at: datetime
    created: bool = Field(description="False: this event_id was recorded before (a retry); nothing changed.")


class StoredPostResponse(BaseModel):
    """A stored post: redacted text, the decision, its context and its helpdesk events (no identity hashes)."""

    id: str
    brand: str
    channel: str
    created_at: datetime
    triaged_at: datetime
    thread_id: str | None
    parent_id: str | None
    customer_id: str | None
    customer_key: str | None = Field(description="Opaque key of the recognised customer (this store only).")
    redacted_text: str
    language: str | None
    labels: dict[str, str]
    queue: str | None
    priority: str | None
    rule: str | None
    actions: list[str]
    needs_human: bool | None
    reasons: list[str]
    triggers: list[str]
    context: dict[str, Any] | None
    model_version: str
    events: list[dict[str, Any]]


def _visible(post: StoredPost | None, caller: Principal | None, post_id: str) -> StoredPost:
    if post is None or (caller is not None and not caller.key.allows(post.brand)):
        raise ApiError(404, "unknown_post", f"no stored post {post_id!r}", field="post_id")
    return post


def _record(store: PostStore, item: EventRequest, caller: Principal | None) -> tuple[Any, bool]:
    _visible(store.get_post(item.post_id), caller, item.post_id)
    try:
        return store.record_event(item.post_id, item.kind, item.actor, at=item.at, note=item.note,
                                  event_id=item.event_id)
    except InputError as exc:
        if exc.code == "event_id_conflict":
            raise ApiError(409, exc.code, str(exc), field="event_id") from None
        if exc.code == "unknown_post":
            raise ApiError(404, exc.code, str(exc), field="post_id") from None
        raise


@router.post(
    "/v1/events", response_model=EventResponse, status_code=201, summary="Record a helpdesk event",
    responses={200: {"model": EventResponse, "description": "This event_id was recorded before: nothing changed."},
               **error_responses(*BODY_ERRORS, 404, 409, 503)},
)
async def record_event(
    request: Request,
    response: Response,
    caller: CallerDep,
    item: Annotated[EventRequest, Body(openapi_examples=EVENT_EXAMPLES)],
) -> EventResponse:
    """Replied, assigned, resolved or hidden: by whom and when, on a stored post. Idempotent by ``event_id``.

    A ``replied`` event is the brand's last reply for the post's thread (a later chase is then no longer
    "awaiting the brand"); ``resolved`` closes the case (a later chase opens no follow-up of it)."""
    store = get_post_store(request)
    event, created = await run_in_threadpool(_record, store, item, caller)
    if not created:
        response.status_code = 200
    return EventResponse(**event.to_dict(), created=created)


@router.get(
    "/v1/posts/{post_id}", response_model=StoredPostResponse, summary="A stored post with its events",
    responses=error_responses(404, 503),
)
async def stored_post(request: Request, post_id: str, caller: CallerDep) -> StoredPostResponse:
    """The stored, redacted post: its decision, context (case, follow-up, incident) and helpdesk events."""
    store = get_post_store(request)

    def read() -> StoredPostResponse:
        post = _visible(store.get_post(post_id), caller, post_id)
        events = [e.to_dict() for e in store.list_events(post_id=post_id)]
        data = post.to_dict()
        for hidden in ("author_hash", "text_hash", "schema_name"):
            data.pop(hidden, None)
        return StoredPostResponse(**data, events=events)

    return await run_in_threadpool(read)
