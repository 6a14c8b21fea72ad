"""Brands, background topics, daily and weekly rhythm, and routing of the synthetic stream.

Every number here is an assumption of the synthetic benchmark, chosen to look like a brand's social inbox
(see bench/results/stream.md): Israeli brands are busiest late morning and evening, quiet before dawn,
slow on Friday afternoon and Shabbat with a Saturday-evening rebound; the UK brand has a Monday–Friday
rhythm with quieter weekends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    key: str  # phrase bank key (bench/stream/phrases.py), also the pseudo-embedding's key
    intent: str
    domain: str  # care | billing | technical | sales | community | moderation | retention
    sentiment: tuple[float, float, float]  # P(negative), P(neutral), P(positive)
    urgency: tuple[float, float, float, float]  # P(critical), P(high), P(normal), P(low)
    weight: float = 1.0
    triggers: tuple[str, ...] = ()
    trigger_rate: float = 0.0  # share of posts whose text carries the trigger words


SENTIMENTS = ("negative", "neutral", "positive")
URGENCIES = ("critical", "high", "normal", "low")

BACKGROUND: tuple[Scenario, ...] = (
    Scenario("delivery_complaint", "complaint", "care", (0.9, 0.1, 0.0), (0.0, 0.35, 0.65, 0.0), 0.10),
    Scenario("billing_complaint", "complaint", "billing", (0.9, 0.1, 0.0), (0.0, 0.4, 0.6, 0.0), 0.06),
    Scenario("billing_question", "question", "billing", (0.1, 0.85, 0.05), (0.0, 0.05, 0.85, 0.1), 0.05),
    Scenario("tech_problem", "complaint", "technical", (0.85, 0.15, 0.0), (0.0, 0.5, 0.5, 0.0), 0.08),
    Scenario("account_request", "request", "care", (0.15, 0.8, 0.05), (0.0, 0.2, 0.75, 0.05), 0.10),
    Scenario("general_question", "question", "care", (0.02, 0.9, 0.08), (0.0, 0.02, 0.78, 0.2), 0.14),
    Scenario("purchase", "purchase_intent", "sales", (0.0, 0.7, 0.3), (0.0, 0.05, 0.75, 0.2), 0.12),
    Scenario("praise", "praise", "community", (0.0, 0.1, 0.9), (0.0, 0.0, 0.1, 0.9), 0.13),
    Scenario("suggestion", "suggestion", "community", (0.2, 0.6, 0.2), (0.0, 0.0, 0.3, 0.7), 0.04),
    Scenario("churn", "churn_risk", "retention", (0.9, 0.1, 0.0), (0.0, 0.7, 0.3, 0.0), 0.03),
    Scenario("chatter", "other", "community", (0.05, 0.7, 0.25), (0.0, 0.0, 0.1, 0.9), 0.07),
    Scenario("spam", "spam", "moderation", (0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 1.0), 0.04),
)

SALE_MIX: tuple[Scenario, ...] = (
    Scenario("sale", "purchase_intent", "sales", (0.0, 0.6, 0.4), (0.0, 0.05, 0.75, 0.2), 0.55),
    Scenario("sale", "question", "sales", (0.05, 0.85, 0.1), (0.0, 0.05, 0.8, 0.15), 0.30),
    Scenario("sale", "praise", "community", (0.0, 0.1, 0.9), (0.0, 0.0, 0.1, 0.9), 0.15),
)
HOLIDAY_MIX: tuple[Scenario, ...] = (
    Scenario("holiday", "other", "community", (0.0, 0.3, 0.7), (0.0, 0.0, 0.1, 0.9), 0.6),
    Scenario("holiday", "praise", "community", (0.0, 0.1, 0.9), (0.0, 0.0, 0.1, 0.9), 0.25),
    Scenario("holiday", "question", "care", (0.0, 0.9, 0.1), (0.0, 0.05, 0.8, 0.15), 0.15),
)

CHANNELS_IL = {"facebook": 0.30, "instagram": 0.15, "twitter": 0.10, "tiktok": 0.05, "whatsapp": 0.17,
               "messenger": 0.08, "telegram": 0.02, "review": 0.05, "email": 0.05, "web": 0.03}
CHANNELS_UK = {"facebook": 0.22, "instagram": 0.12, "twitter": 0.22, "tiktok": 0.06, "whatsapp": 0.08,
               "messenger": 0.08, "telegram": 0.0, "review": 0.08, "email": 0.10, "web": 0.04}
PUBLIC_WITH_COUNTS = {"facebook": ("shares", "likes"), "instagram": ("likes", "views"),
                      "twitter": ("shares", "likes", "views"), "tiktok": ("shares", "likes", "views"),
                      "review": ("likes",)}


@dataclass(frozen=True)
class BrandProfile:
    name: str
    tz: str
    share: float  # of the whole stream's volume
    languages: dict[str, float]
    channels: dict[str, float]
    week: str  # "il" | "uk"
    shapes: tuple[str, ...]  # incidents injected over 30 days (scaled); 4–5 of each of the five shapes in all


BRANDS: tuple[BrandProfile, ...] = (
    BrandProfile("cellnet", "Asia/Jerusalem", 0.40, {"he": 0.85, "en": 0.15}, CHANNELS_IL, "il",
                 ("outage", "outage", "viral", "phishing", "billing", "billing")),
    BrandProfile("freshmart", "Asia/Jerusalem", 0.25, {"he": 0.85, "en": 0.15}, CHANNELS_IL, "il",
                 ("recall", "recall", "viral", "viral", "phishing", "billing")),
    BrandProfile("bankit", "Asia/Jerusalem", 0.20, {"he": 0.7, "en": 0.3}, CHANNELS_IL, "il",
                 ("outage", "outage", "phishing", "phishing", "viral", "billing")),
    BrandProfile("northwind", "Europe/London", 0.15, {"en": 1.0}, CHANNELS_UK, "uk",
                 ("recall", "recall", "viral", "phishing", "outage", "billing")),
)

# Relative volume by local hour of day (the mean is 1).
_HOD = (0.30, 0.17, 0.10, 0.08, 0.08, 0.15, 0.35, 0.70, 1.10, 1.40, 1.55, 1.55, 1.50, 1.45, 1.40, 1.35,
        1.35, 1.40, 1.50, 1.60, 1.65, 1.50, 1.10, 0.67)
HOD = tuple(x * 24 / sum(_HOD) for x in _HOD)
DOW = {"il": (1.10, 1.05, 1.05, 1.00, 0.75, 0.55, 1.15), "uk": (1.05, 1.05, 1.05, 1.05, 1.00, 0.85, 0.70)}


def rhythm(week: str, weekday: int, hour: int, holiday: bool) -> float:
    """Relative volume at a local weekday (0 = Monday) and hour."""
    value = HOD[hour] * DOW[week][weekday]
    if week == "il" and weekday == 4 and hour >= 15:
        value *= 0.5  # Friday afternoon: Shabbat is coming
    if week == "il" and weekday == 5:
        value *= 0.7 if hour < 18 else 1.5  # Shabbat, then Saturday evening
    if holiday:
        value *= 0.5 if hour < 12 else (0.8 if hour < 18 else 1.7)  # a late-night holiday: family evenings
    return value


def route(intent: str, urgency: str, domain: str) -> str:
    """A queue like the default routing policy would give (data/policies/default.yaml), from noisy labels."""
    if urgency == "critical":
        return "crisis"
    fixed = {"spam": "moderation", "churn_risk": "retention", "purchase_intent": "sales", "praise": "community",
             "suggestion": "community", "other": "community"}
    if intent in fixed:
        return fixed[intent]
    if intent in ("complaint", "request") and domain in ("billing", "technical"):
        return domain
    return "care"
