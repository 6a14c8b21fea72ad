"""Every threshold of the crisis detector, with the reason for its default.

The defaults fit the default label schema (``data/schemas/default.yaml``); a brand with its own schema
passes its own ``concern_intents`` / ``concern_urgencies`` / ``calm_sentiments``. The reasoning behind the
numbers is in ``triage/stream/README.md``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WindowRule(BaseModel):
    """One sliding window of the volume test and the gates a count must pass before the tail test."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: int = Field(gt=0)
    min_count: int = Field(ge=1, description="Fewer posts than this never open an incident in this window.")
    min_ratio: float = Field(ge=1.0, description="The count must also be this many times the expected count.")


DEFAULT_WINDOWS: tuple[WindowRule, ...] = (
    # Fast bursts: 4 complaints from 4 people in 10 minutes on a topic that normally has none is an outage
    # starting (the authors gate and p <= 1e-6 make this fire only on new or near-silent topics).
    WindowRule(seconds=600, min_count=4, min_ratio=4.0),
    WindowRule(seconds=3600, min_count=8, min_ratio=3.0),
    # Slow build-ups: long windows with a smaller ratio; the dispersion term keeps them honest.
    WindowRule(seconds=6 * 3600, min_count=12, min_ratio=2.0),
    WindowRule(seconds=24 * 3600, min_count=20, min_ratio=1.6),
)

DEFAULT_TRIGGER_SEVERITY: dict[str, float] = {
    # Score (in -log10 p units) given to a single post with the trigger: above every volume alarm's minimum (6).
    "food_poisoning": 10.0,
    "injury": 10.0,
    "safety": 10.0,
    "regulator": 9.0,
    "lawyer": 8.0,
    "media": 8.0,
    "viral": 8.0,
    "phishing": 8.0,
    "data_breach": 9.0,
    "outage": 7.0,
}


class DetectorConfig(BaseModel):
    """Settings of :class:`triage.stream.CrisisDetector`. Frozen: several workers must agree on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- which posts count as trouble --------------------------------------------------------------------
    concern_intents: tuple[str, ...] = ("complaint", "churn_risk")
    concern_urgencies: tuple[str, ...] = ("critical",)
    calm_sentiments: tuple[str, ...] = Field(
        default=("positive",),
        description="Posts with this sentiment never count as trouble: a sale or a holiday brings many of them.",
    )
    trigger_urgencies: tuple[str, ...] = Field(
        default=("critical", "high"),
        description="A single post opens a trigger incident only when the classifier agrees it is urgent.",
    )
    min_trouble_share: float = Field(
        default=0.25, ge=0, le=1,
        description="Share of a cluster's posts in the window that must be trouble: a sale cluster whose posts "
        "the classifier sometimes calls complaints is not a crisis.",
    )

    # --- local time ----------------------------------------------------------------------------------------
    timezone: str = "Asia/Jerusalem"
    brand_timezones: dict[str, str] = Field(default_factory=dict)

    # --- volume test ---------------------------------------------------------------------------------------
    windows: tuple[WindowRule, ...] = DEFAULT_WINDOWS
    p_value: float = Field(default=1e-6, gt=0, lt=1, description="Tail probability below which a window fires.")
    dispersion: float = Field(
        default=0.05, ge=0, description="Negative-binomial overdispersion: variance = mu + dispersion * mu^2."
    )
    floor_per_hour: float = Field(default=0.2, gt=0, description="No topic is expected to be quieter than this.")
    prior_hours: float = Field(default=12.0, gt=0, description="Weight of the floor as a prior on a new topic.")
    baseline_half_life_hours: float = Field(default=168.0, gt=0)
    winsor_ratio: float = Field(default=3.0, gt=1, description="Hours above this times expected are clipped.")
    warmup_hours: float = Field(default=48.0, ge=0, description="Volume alarms stay off while a brand is new.")
    min_authors: int = Field(default=4, ge=1,
                             description="Distinct authors a window needs (one angry customer is not a crisis).")
    activity_cap: float = Field(default=3.0, ge=1, description="Most that brand-wide busyness may raise expectations.")

    # --- season ----------------------------------------------------------------------------------------------
    season_alpha_day: float = Field(default=0.25, gt=0, le=1)
    season_alpha_week: float = Field(default=0.5, gt=0, le=1)
    season_alpha_mean: float = Field(default=1 / 48, gt=0, le=1)

    # --- clustering ----------------------------------------------------------------------------------------
    cluster_threshold: float = Field(default=0.80, description="Cosine to a centroid to join its cluster.")
    text_threshold: float = Field(default=0.5, description="Estimated Jaccard of 4-gram shingles to join.")
    minhash_permutations: int = Field(default=64, ge=8)
    max_clusters: int = Field(default=512, ge=8, description="Per brand and pool; least recently seen evicted.")
    cluster_ttl_hours: float = Field(default=14 * 24.0, gt=0)
    centroid_memory: int = Field(default=50, ge=1, description="Posts a centroid averages over before it drifts.")

    # --- single-post signals ----------------------------------------------------------------------------------
    trigger_severity: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TRIGGER_SEVERITY))
    default_trigger_severity: float = 7.0
    campaign_triggers: tuple[str, ...] = Field(
        default=("phishing", "outage"),
        description="Triggers whose posts join one open incident per brand, whatever their cluster.",
    )
    viral_floor: dict[str, int] = Field(
        default_factory=lambda: {"shares": 100, "likes": 1000, "views": 20000},
        description="Observed counts at or above which a post may be viral.",
    )
    stated_floor: dict[str, int] = Field(
        default_factory=lambda: {"shares": 500, "likes": 2000, "views": 10000},
        description="Counts stated in the text ('already 2,000 shares') at or above which a post is viral.",
    )
    viral_z: float = Field(default=4.0, description="Log-count z-score vs the brand's own posts a viral post needs.")
    viral_min_history: int = Field(default=200, description="Counts seen before the z-score is trusted.")
    viral_alpha: float = Field(default=0.002, gt=0, le=1)

    # --- lifecycle -----------------------------------------------------------------------------------------
    resolve_after_minutes: float = Field(default=240.0, gt=0, description="Quiet this long resolves an incident.")
    quiet_p: float = Field(
        default=0.01, gt=0, lt=1,
        description="'Quiet': the incident's posts over resolve_after are no longer significant at this level "
        "against the cluster's baseline from before the incident.",
    )
    growth_ratio: float = Field(default=2.0, description="Posts in the last hour vs at opening to call it growing.")
    growth_min_posts: int = 5
    max_examples: int = 10
    keep_resolved_hours: float = 7 * 24.0
    sweep_seconds: float = 60.0

    def tz_for(self, brand: str) -> str:
        return self.brand_timezones.get(brand, self.timezone)

    def severity(self, trigger: str) -> float:
        return self.trigger_severity.get(trigger, self.default_trigger_severity)
