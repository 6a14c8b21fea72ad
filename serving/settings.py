"""Server settings from ``TRIAGE_*`` environment variables, validated by pydantic-settings.

Every field is an environment variable named ``TRIAGE_`` + the field name in upper case
(``max_batch`` -> ``TRIAGE_MAX_BATCH``). ``triage serve`` options override them. ``docs/SERVING.md`` has the
table; ``load_settings`` turns a validation error into one ``ConfigError`` naming the variables.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from serving.keys import ApiKey, KeyRing, parse_entries, parse_entry
from triage.errors import ConfigError
from triage.text.validate import MAX_CHARS_DEFAULT

ENV_PREFIX = "TRIAGE_"


def available_cores() -> int:
    """Cores this process may run on (CPU affinity, which containers and taskset narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class ServeSettings(BaseSettings):
    """Everything the server reads at start-up. Each worker process reads the same values."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    model_dir: Path | None = Field(
        default=None,
        # TRIAGE_MODEL is what the library itself reads; both work.
        validation_alias=AliasChoices("TRIAGE_MODEL_DIR", "TRIAGE_MODEL"),
        description="Model folder; default: the shipped models/default.",
    )
    brand: str | None = Field(
        default=None, description="Brand for posts that name none; default: the 'default' policy."
    )
    host: str = Field(default="127.0.0.1", description="Interface to bind; non-loopback only with API keys.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free port).")
    workers: int | None = Field(default=None, ge=1, le=64, description="Worker processes; default: one per core.")
    threads: int = Field(default=1, ge=1, le=64, description="Inference threads per worker (TRIAGE_THREADS).")
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(
        default_factory=list, description="Key entries tenant:sha256hex[:brands], comma-separated."
    )
    api_keys_file: Path | None = Field(default=None, description="File with one key entry per line.")
    database_url: str = Field(
        default="sqlite:///./triage-feedback.db", description="SQLAlchemy URL of the feedback store."
    )
    max_batch: int = Field(default=32, ge=1, le=1024, description="Most posts in one batch request.")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="Largest request body in bytes."
    )
    max_chars: int = Field(default=MAX_CHARS_DEFAULT, ge=1, le=100_000, description="Longest post text in characters.")
    request_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Time allowed to read a body, and for inference."
    )
    graceful_timeout_s: float = Field(
        default=30.0, ge=0, le=600, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    stuck_after_s: float | None = Field(
        default=None, gt=0, le=3600,
        description="An inference call running longer than this makes the worker unready and restarts it; "
        "default: 3 x the request timeout.",
    )
    reuse_port: bool = Field(
        default=True,
        description="Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections "
        "(Linux); false: the workers share one socket.",
    )
    microbatch: bool = Field(
        default=True, description="Group concurrent single-post requests into one model call (measured faster)."
    )
    microbatch_window_ms: float = Field(
        default=2.0, ge=0, le=1000, description="How long a busy micro-batcher waits for more posts."
    )
    microbatch_max: int = Field(default=16, ge=1, le=1024, description="Most posts in one micro-batch.")
    warm_up: bool = Field(default=True, description="Run two posts through the engine before reporting ready.")
    # The learning loop (serving.live, docs/LEARNING.md).
    registry: Path | None = Field(
        default=None, description="Model registry folder: serve its live model and switch when it changes.")
    registry_poll_s: float = Field(default=2.0, gt=0, le=3600, description="How often workers check the registry.")
    shadow_sample: float = Field(default=1.0, ge=0, le=1, description="Share of live posts the shadow model scores.")
    audit_actions: bool = Field(
        default=True, description="Write automated actions (hide, like, escalate, accepted replies) to the post "
        "store's audit log when TRIAGE_STORE_URL is set.")
    # The stream (serving.streaming, docs/STREAM.md): post store, context, crisis detector, webhooks.
    store_url: str | None = Field(
        default=None, description="Post store (SQLite file or PostgreSQL URL): every triaged post is saved, "
        "redacted, and gives later posts their context; unset: no store, no context, no incidents.")
    identity_key: str | None = Field(
        default=None, repr=False, description="Secret of the keyed identity hashes (at least 16 bytes).")
    stream_detect: bool = Field(default=True, description="Run the crisis detector over the stored posts.")
    incident_sweep_s: float = Field(
        default=60.0, gt=0, le=86_400, description="How often quiet incidents are resolved when no posts arrive.")
    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Incident webhooks, comma-separated http(s) URLs.")
    webhook_secret: str | None = Field(default=None, repr=False, description="HMAC-SHA256 secret of the webhooks.")
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=120, description="Time allowed to one webhook call.")
    webhook_retries: int = Field(default=5, ge=0, le=20,
                                 description="Retries of a failed webhook (backoff 1, 2, 4 s...).")
    store_retention: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict, description="Per-brand retention in days, e.g. 'default=365,acme=180', applied daily.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(default="info")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_entries(value)
        if isinstance(value, list | tuple):
            return [parse_entry(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not an SQLAlchemy URL ({exc}); e.g. sqlite:///./feedback.db") from None
        return value

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return cls._check_url(value.strip())

    @field_validator("identity_key")
    @classmethod
    def _check_identity_key(cls, value: str | None) -> str | None:
        from triage.context.identity import IdentityKey

        if value is None or not value.strip():
            return None
        try:
            IdentityKey.from_text(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _parse_webhooks(cls, value: Any) -> Any:
        urls = [u.strip() for u in value.split(",") if u.strip()] if isinstance(value, str) else value
        for url in urls or []:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls

    @field_validator("store_retention", mode="before")
    @classmethod
    def _parse_retention(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        out: dict[str, int] = {}
        for part in (p.strip() for p in value.split(",") if p.strip()):
            brand, _, days = part.partition("=")
            if not brand.strip() or not days.strip().isdigit() or int(days) < 1:
                raise ValueError(f"expected brand=days (days at least 1), got {part!r}")
            out[brand.strip()] = int(days)
        return out

    @model_validator(mode="after")
    def _webhook_secret_needed(self) -> ServeSettings:
        if self.webhook_urls and not self.webhook_secret:
            raise ValueError("TRIAGE_WEBHOOK_URLS needs TRIAGE_WEBHOOK_SECRET (the receivers check the signature)")
        return self

    @model_validator(mode="after")
    def _merge_key_file(self) -> ServeSettings:
        keys = list(self.api_keys)
        if self.api_keys_file is not None:
            try:
                text = self.api_keys_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(
                    f"cannot read TRIAGE_API_KEYS_FILE={self.api_keys_file}: {exc.strerror}"
                ) from None
            keys += parse_entries(text)
            self.api_keys_file = None  # merged: workers get the keys through TRIAGE_API_KEYS (see to_env)
        digests = [k.sha256 for k in keys]
        if len(set(digests)) != len(digests):
            raise ValueError("the same API key hash is configured twice (TRIAGE_API_KEYS / TRIAGE_API_KEYS_FILE)")
        self.api_keys = keys
        return self

    @model_validator(mode="after")
    def _registry_live_model(self) -> ServeSettings:
        # With a registry and no explicit model: its live model (workers re-read the registry themselves).
        if self.registry is not None and self.model_dir is None:
            from learning.registry import Registry

            try:
                self.model_dir = Registry(self.registry).live_dir()
            except Exception as exc:
                raise ValueError(f"cannot read the model registry {self.registry}: {exc}") from None
        return self

    @property
    def keyring(self) -> KeyRing:
        return KeyRing(self.api_keys)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    def resolved_workers(self) -> int:
        return self.workers or available_cores()

    def resolved_stuck_after_s(self) -> float:
        return self.stuck_after_s if self.stuck_after_s is not None else 3 * self.request_timeout_s

    def to_env(self) -> dict[str, str]:
        """The environment that makes a worker process read exactly these settings."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(exclude={"api_keys", "api_keys_file", "model_dir"}).items():
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, dict):
                value = ",".join(f"{k}={v}" for k, v in value.items())
            if value is not None:
                env[ENV_PREFIX + name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        env[ENV_PREFIX + "API_KEYS"] = ",".join(k.to_entry() for k in self.api_keys)
        if self.model_dir is not None:
            env[ENV_PREFIX + "MODEL_DIR"] = str(self.model_dir)
        return env


# Variables the parent has merged into others: a worker that read them again would configure twice
# (TRIAGE_API_KEYS_FILE's keys are in TRIAGE_API_KEYS already, and "the same key hash twice" is an error).
MERGED_VARIABLES = (ENV_PREFIX + "API_KEYS_FILE",)


def export_for_workers(settings: ServeSettings, environ: MutableMapping[str, str]) -> None:
    """Make ``environ`` describe exactly ``settings`` to worker processes, which read only the environment."""
    environ.update(settings.to_env())
    for name in MERGED_VARIABLES:
        environ.pop(name, None)


def load_settings(**overrides: Any) -> ServeSettings:
    """Settings from the environment with ``overrides`` (None values ignored); ConfigError when invalid."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return ServeSettings(**given)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else ""
            where = name if name.startswith(ENV_PREFIX) else f"{ENV_PREFIX}{name}" if name else "settings"
            lines.append(f"  {where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid server settings:\n" + "\n".join(lines)) from None
