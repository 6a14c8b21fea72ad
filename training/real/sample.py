"""Draw the real posts the project labels: a seeded, stratified sample from ``../shared/datasets``.

The sample is the project's own data only as *keys* (source, id, split, stratum): the texts stay in
``../shared`` and :mod:`training.real.labels` joins them back. Splits are by **brand**, so the real test
split measures brands the model never saw:

* Hebrew (``he-bank-app-reviews``): train = Pepper, Cal, Mizrahi-Tefahot; dev = Discount Bank;
  test = Isracard, First International Bank, Mercantile Discount.
* English: complaint tweets by domain (test: transport, food, cars; dev: software), care threads by company
  (test: eight companies; dev: Apple, HP), YouTube comments by video (test: Shakira; dev: Eminem).

Within a brand the sample is stratified by stars (1★ oversampled: real complaints are the point) and a
share is drawn from keyword matches that find the rare intents (purchase leads, questions, requests,
cancellations, suggestions, critical triggers), so that every class has enough examples to measure.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from training.real.sources import (
    HE_REVIEWS,
    RealPost,
    read_care_first_turns,
    read_complaint_tweets,
    read_he_reviews,
    read_youtube,
)

SEED = 2026
HE_QUOTAS: dict[str, tuple[str, int]] = {  # app -> (split, posts)
    "Pepper": ("train", 600),
    "Cal": ("train", 450),
    "Mizrahi-Tefahot": ("train", 450),
    "Discount Bank": ("dev", 500),
    "Isracard": ("test", 450),
    "First International Bank": ("test", 400),
    "Mercantile Discount": ("test", 150),
}
STAR_SHARES = {1: 0.30, 2: 0.15, 3: 0.15, 4: 0.15, 5: 0.25}
KEYWORD_SHARE = 0.20
# Words that find the intents and urgencies that a star-stratified sample would barely contain.
HE_RARE = re.compile(
    r"כמה עול|מחיר|להצטרף|לפתוח חשבון|הלווא|משכנת|כרטיס חדש|להזמין|איך |למה |האם |איפה |\?|"
    r"בבקשה|תחזרו|אבקש|מבקש|תעזרו|תבדקו|עוזב|לעזוב|עובר ל|עוברת ל|לסגור|סוגר|סגרתי|מבטל|לבטל|"
    r"תוסיפו|הייתי מציע|כדאי ש|חסר|אשמח אם|תביע|עורך דין|עו\"ד|הונא|גניב|נגנב|פרצ|נפרץ|פישינג|"
    r"התחזות|בנק ישראל|הפיקוח|המפקח|חדשות|ערוץ|http|www"
)
EN_SPLITS = {
    "complaints": {"transport": "test", "food": "test", "cars": "test", "software": "dev"},
    "care": {c: "test" for c in ("AdobeCare", "AskeBay", "SpotifyCares", "hulu_support", "Ask_WellsFargo",
                                 "SouthwestAir", "Delta", "ChaseSupport")}
    | {"AppleSupport": "dev", "HPSupport": "dev"},
    "youtube": {"Youtube05-Shakira": "test", "Youtube04-Eminem": "dev"},
}
EN_QUOTAS = {"complaints": 450, "care": 350, "youtube": 200}


@dataclass(frozen=True)
class SampledPost:
    """One post chosen for labeling: its key in ``../shared``, its split and why it was drawn."""

    source: str
    id: str
    split: str
    brand: str
    stratum: str


def _draw(rng: random.Random, pool: list[RealPost], n: int, taken: set[str]) -> list[RealPost]:
    free = [p for p in pool if p.id not in taken]
    rng.shuffle(free)
    chosen = free[:n]
    taken.update(p.id for p in chosen)
    return chosen


def sample_hebrew(shared: Path, seed: int = SEED) -> list[SampledPost]:
    """Stars-stratified plus keyword-oversampled reviews per app, de-duplicated by text."""
    posts = read_he_reviews(shared)
    out: list[SampledPost] = []
    for app, (split, quota) in HE_QUOTAS.items():
        rng = random.Random(f"{seed}|{app}")
        mine = [p for p in posts if p.brand == app]
        taken: set[str] = set()
        n_kw = round(quota * KEYWORD_SHARE)
        for p in _draw(rng, [p for p in mine if HE_RARE.search(p.text)], n_kw, taken):
            out.append(SampledPost(HE_REVIEWS, p.id, split, app, f"keyword|{p.stars}"))
        left = quota - n_kw
        for stars, share in STAR_SHARES.items():
            pool = [p for p in mine if p.stars == stars]
            for p in _draw(rng, pool, min(round(left * share), left - _count(out, app) + n_kw), taken):
                out.append(SampledPost(HE_REVIEWS, p.id, split, app, f"stars|{stars}"))
        short = quota - _count(out, app)  # small apps lack some star levels: fill from any
        for p in _draw(rng, mine, short, taken):
            out.append(SampledPost(HE_REVIEWS, p.id, split, app, f"fill|{p.stars}"))
    return out


def _count(out: list[SampledPost], brand: str) -> int:
    return sum(1 for s in out if s.brand == brand)


def sample_english(shared: Path, seed: int = SEED) -> list[SampledPost]:
    """Complaint tweets, first customer turns of care threads and YouTube comments, split by brand."""
    readers = {"complaints": read_complaint_tweets, "care": read_care_first_turns, "youtube": read_youtube}
    out: list[SampledPost] = []
    for kind, reader in readers.items():
        rng = random.Random(f"{seed}|{kind}")
        pool = list(reader(shared))
        rng.shuffle(pool)
        for p in pool[: EN_QUOTAS[kind]]:
            split = EN_SPLITS[kind].get(p.brand, "train")
            out.append(SampledPost(p.source, p.id, split, p.brand, kind))
    return out


def write_sample(posts: Iterable[SampledPost], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for p in posts:
            f.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")


def read_sample(path: Path) -> Iterator[SampledPost]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield SampledPost(**json.loads(line))



def held_out_brands() -> set[tuple[str, str]]:
    """(source, brand) pairs of the dev and test splits: never used as unlabeled training text either."""
    from training.real.sources import CARE, COMPLAINTS, YOUTUBE

    out = {(HE_REVIEWS, app) for app, (split, _) in HE_QUOTAS.items() if split != "train"}
    kinds = {"complaints": COMPLAINTS, "care": CARE, "youtube": YOUTUBE}
    for kind, brands in EN_SPLITS.items():
        out |= {(kinds[kind], brand) for brand in brands}
    return out
