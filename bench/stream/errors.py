"""A classifier-like error model for the labels the generator knows.

A real classifier's mistakes are not uniform: it confuses neighbours (complaint ↔ request, question ↔
purchase intent, praise ↔ other) far more than distant labels. So an intent error picks a confusable label
90 % of the time and any other label 10 %; sentiment and urgency errors move one step (negative ↔ neutral,
critical ↔ high ↔ normal ↔ low). Trigger words are missed sometimes (a paraphrase the keyword list does not
cover) and, rarely, found where they mean something else ("תביעה" as an insurance claim).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTENTS = ("spam", "churn_risk", "complaint", "request", "purchase_intent", "question", "suggestion", "praise", "other")
CONFUSABLE = {
    "complaint": ("request", "churn_risk", "question", "other"),
    "request": ("complaint", "question"),
    "question": ("purchase_intent", "request", "complaint"),
    "purchase_intent": ("question", "request"),
    "praise": ("other", "suggestion"),
    "other": ("praise", "spam", "question"),
    "spam": ("other",),
    "churn_risk": ("complaint", "request"),
    "suggestion": ("complaint", "praise", "question"),
}
SENTIMENT_STEP = {"negative": ("neutral",), "neutral": ("negative", "positive"), "positive": ("neutral",)}
URGENCY_STEP = {"critical": ("high",), "high": ("critical", "normal"), "normal": ("high", "low"), "low": ("normal",)}
SPURIOUS_TRIGGERS = ("lawyer", "media", "outage", "regulator", "phishing")


@dataclass(frozen=True)
class ErrorModel:
    intent: float = 0.15
    sentiment: float = 0.10
    urgency: float = 0.15
    trigger_miss: float = 0.10
    trigger_spurious: float = 2e-5

    def labels(self, u: np.ndarray, intent: str, sentiment: str, urgency: str) -> tuple[str, str, str]:
        """Noisy labels from the true ones; ``u`` holds 6 uniform draws (pre-drawn in bulk: it is faster)."""
        if u[0] < self.intent:
            options = CONFUSABLE[intent] if u[1] < 0.9 else tuple(i for i in INTENTS if i != intent)
            intent = _pick(u[2], options)
        if u[3] < self.sentiment:
            sentiment = _pick(u[4], SENTIMENT_STEP[sentiment])
        if u[5] < self.urgency:
            urgency = _pick((u[5] / self.urgency), URGENCY_STEP[urgency])
        return intent, sentiment, urgency

    def triggers(self, u: np.ndarray, true: tuple[str, ...]) -> tuple[str, ...]:
        """Observed triggers: each true one missed with ``trigger_miss``; rarely a spurious one (3 draws)."""
        kept = tuple(t for t in true if u[0] >= self.trigger_miss)
        if u[1] < self.trigger_spurious:
            kept += (_pick(u[2], SPURIOUS_TRIGGERS),)
        return kept

    def describe(self) -> dict[str, float | str]:
        return {
            "intent_error": self.intent, "sentiment_error": self.sentiment, "urgency_error": self.urgency,
            "trigger_miss": self.trigger_miss, "trigger_spurious_per_post": self.trigger_spurious,
            "how": "intent errors pick a confusable label 90% of the time (complaint↔request/churn/question, "
                   "question↔purchase/request, praise↔other...), sentiment and urgency errors move one step",
        }


def _pick(u: float, options: tuple[str, ...]) -> str:
    """The option a uniform draw in [0, 1) falls on."""
    return options[min(int(u * len(options)), len(options) - 1)]
