"""Never hide a complaint: the model-independent guard, the confidence bar and protest posts.

A hide needs spam or abuse the model is sure of AND no failure, money, service or outage words in the
post, in any of the four languages. A post that fails goes to a person, with the reason; a post that
rallies people against the brand goes to PR.
"""

from __future__ import annotations

import pytest

from triage.routing.hide_guard import HideGuard
from triage.routing.policy import load_policy
from triage.routing.router import PolicyRouter
from triage.schema import LabelSchema

from .support import POLICIES, route

GUARD = HideGuard()

COMPLAINTS: list[tuple[str, str]] = [
    # Hebrew: behind prefix letters too.
    ("he", "אין אינטרנט"),
    ("he", "תמותו, אין אינטרנט כבר 3 ימים"),
    ("he", "חייבו אותי פעמיים"),
    ("he", "שחייבו אותי בלי רשות"),
    ("he", "האפליקציה לא עובדת"),
    ("he", "הראוטר לא עובד מהבוקר"),
    ("he", "בני זונות, גנבו לי כסף"),
    ("he", "אף אחד לא עונה במוקד"),
    ("he", "מניאקים, שבועיים מחכה לטכנאי"),
    ("he", "והאינטרנט נופל כל ערב"),
    ("he", "הקו מנותק כבר יומיים"),
    ("he", "יש תקלה באתר, אידיוטים"),
    ("he", "ירד לי כסף מהחשבון פעמיים"),
    ("he", "איפה ההחזר הכספי שלי"),
    ("he", "החבילה שלי לא הגיעה"),
    ("he", "אין קליטה בכל השכונה"),
    # English.
    ("en", "fuck you, my internet is not working"),
    ("en", "You charged me twice, morons"),
    ("en", "no internet for 3 days you idiots"),
    ("en", "where is my refund, scum"),
    ("en", "The app doesn't work since the update"),
    ("en", "can't log in AGAIN"),
    ("en", "been waiting 2 hours on hold"),
    ("en", "Your network is down across the city"),
    ("en", "my parcel never arrived"),
    ("en", "Overcharged on my bill again"),
    # Arabic: behind the article and clitics.
    ("ar", "الإنترنت مقطوع منذ يومين"),
    ("ar", "التطبيق لا يعمل"),
    ("ar", "خصموا من حسابي مرتين"),
    ("ar", "لا أحد يرد على الهاتف"),
    ("ar", "يوجد عطل في الخط"),
    ("ar", "وين الاسترجاع؟"),
    ("ar", "انقطاع الخدمة في الناصرة"),
    ("ar", "الطلبية ما وصل لحد الآن"),
    # Russian: inflected stems.
    ("ru", "Интернет не работает третий день"),
    ("ru", "Списали деньги дважды"),
    ("ru", "Никто не отвечает в поддержке"),
    ("ru", "Нет интернета с утра, идиоты"),
    ("ru", "Приложение не открывается"),
    ("ru", "Верните деньги немедленно"),
    ("ru", "Опять сбой, сколько можно"),
    ("ru", "Мой заказ так и не пришёл"),
]

SPAM: list[str] = [
    "Follow me for free crypto signals, 10x guaranteed",
    "Congratulations! You won a $500 voucher, click the link to claim",
    "I made $5000 from home this week, DM me to learn how",
    "Earn money from home, no experience needed",
    'זכיתם בשובר של 500 ש"ח! היכנסו לקישור ומלאו פרטים',
    'הרווחתי 5000 ש"ח בשבוע מהבית, שלחו הודעה ואסביר',
    "מבצע מטורף רק היום, הכנסו לקבוצת הווטסאפ",
    "ربحت 1000 دولار من البيت، راسلني",
    "Заработок в интернете от 5000 в день, пиши в личку",
    "אתם מניאקים",
    "you idiots lol",
]

PROTESTS: list[str] = [
    "הצטרפו לקבוצת וואטסאפ נגד החברה https://chat.whatsapp.com/AbC123",
    "פתחנו קבוצה נגד החברה, כולם להצטרף",
    "חרם על החברה עד שיחזירו את הכסף",
    "Join the boycott! https://chat.whatsapp.com/XyZ",
    "مقاطعة الشركة حتى يحلوا المشكلة",
    "Бойкот этой компании, вступайте в группу",
]


def test_the_lists_cover_four_languages() -> None:
    assert len(COMPLAINTS) >= 40
    assert {lang for lang, _ in COMPLAINTS} == {"he", "en", "ar", "ru"}


@pytest.mark.parametrize(("lang", "text"), COMPLAINTS)
def test_complaint_words_stop_a_hide(lang: str, text: str) -> None:
    assert GUARD.complaint_signal(text) is not None, (lang, text)


@pytest.mark.parametrize("text", SPAM)
def test_plain_spam_and_insults_pass_the_guard(text: str) -> None:
    assert GUARD.complaint_signal(text) is None, (text, GUARD.complaint_signal(text))
    assert GUARD.protest_signal(text) is None


@pytest.mark.parametrize("text", PROTESTS)
def test_protest_posts_are_recognised(text: str) -> None:
    assert GUARD.protest_signal(text) is not None, text


@pytest.fixture(scope="module")
def router(default_schema: LabelSchema) -> PolicyRouter:
    return PolicyRouter(load_policy(POLICIES / "default.yaml", default_schema))


@pytest.mark.parametrize(("lang", "text"), COMPLAINTS)
@pytest.mark.parametrize("labels", [{"intent": "spam", "urgency": "low"}, {"intent": "other", "sentiment": "negative"}])
def test_the_default_policy_never_hides_a_complaint(router: PolicyRouter, default_schema: LabelSchema, lang: str,
                                                    text: str, labels: dict[str, str]) -> None:
    """Whatever the model says (spam, or abusive chatter), a post with complaint words is never hidden."""
    d = route(router, default_schema, text, **labels)
    assert "hide" not in d.actions, (text, d.rule, d.reasons)
    if labels["intent"] == "spam":                  # the spam rule wanted to hide it: a person checks
        assert d.needs_human and any(r.startswith("hide withheld: ") for r in d.reasons)


def test_abusive_outage_complaint_goes_to_a_person_with_the_reason(router: PolicyRouter,
                                                                    default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "תמותו, אין אינטרנט כבר 3 ימים", intent="other", sentiment="negative")
    assert (d.rule, d.queue, d.actions, d.needs_human) == ("default", "care", ["reply"], True)
    assert d.reasons[0] == "keyword 'תמותו' matched rule 'abuse'"
    assert ("hide withheld: the post has the outage word 'אין אינטרנט' (a complaint may hide behind it) → "
            "default route, a person checks") in d.reasons


def test_the_router_hands_the_guard_the_normalised_folded_text(router: PolicyRouter,
                                                                default_schema: LabelSchema) -> None:
    """The guard searches the router's text as is (normalised once per post): full-width capitals still hit."""
    d = route(router, default_schema, "ＣＨＡＲＧＥＤ ＴＷＩＣＥ!!!!! click my link", intent="spam", urgency="low")
    assert "hide" not in d.actions and d.needs_human
    assert ("hide withheld: the post has the money word 'charged' (a complaint may hide behind it) → default route, "
            "a person checks") in d.reasons


def test_spam_the_model_is_unsure_of_is_not_hidden(router: PolicyRouter, default_schema: LabelSchema) -> None:
    sure = route(router, default_schema, "Follow me for free crypto", intent="spam", urgency="low")
    assert sure.actions == ["hide"] and not sure.needs_human
    unsure = route(router, default_schema, "Follow me for free crypto", intent="spam", urgency="low",
                   confidence=0.40)
    assert "hide" not in unsure.actions and unsure.needs_human
    assert any(r.startswith("hide withheld: intent=spam is uncertain (p=0.40, threshold 0.45)") for r in unsure.reasons)


@pytest.mark.parametrize("text", SPAM[:7])
def test_real_spam_is_still_hidden(router: PolicyRouter, default_schema: LabelSchema, text: str) -> None:
    d = route(router, default_schema, text, intent="spam", urgency="low")
    assert d.actions == ["hide"], d.reasons


@pytest.mark.parametrize("text", PROTESTS)
def test_protest_links_go_to_pr_never_hidden(router: PolicyRouter, default_schema: LabelSchema, text: str) -> None:
    # As spam (the spam rule hides), and with an invite link as chatter (the invite-links rule hides).
    for intent in ("spam", "other") if "chat.whatsapp.com" in text else ("spam",):
        d = route(router, default_schema, text, intent=intent, urgency="low")
        assert (d.queue, d.rule, d.actions, d.needs_human) == ("crisis", "hide_guard.protest", ["escalate"], True)
        assert any(r.startswith("hide withheld: protest word") for r in d.reasons)


def test_brand_words_extend_the_guard(tmp_path, default_schema: LabelSchema) -> None:
    from .support import policy_with_probe, write

    text = policy_with_probe("{intent: spam}", "hide_guard: {extra_words: [northwind hub]}\n").replace(
        "actions: [reply]}\ndefault", "actions: [hide]}\ndefault")
    r = PolicyRouter(load_policy(write(tmp_path / "acme.yaml", text), default_schema))
    assert route(r, default_schema, "cheap pills here", intent="spam").actions == ["hide"]
    d = route(r, default_schema, "my Northwind hub again!!", intent="spam")
    assert "hide" not in d.actions and any("brand word 'northwind hub'" in x for x in d.reasons)


def test_the_phrase_search_equals_the_alternation_it_replaces() -> None:
    """The anchored per-phrase search finds what one big alternation found: the same span, on every list."""
    import itertools
    import re

    from triage.routing.hide_guard import GUARD_WORDS, PROTEST_WORDS, _compile, _phrase_pattern
    from triage.text.normalise import normalise

    lists = [[w for lang in GUARD_WORDS.values() for w in lang.get(c, ())]
             for c in ("failure", "money", "service", "outage")]
    lists.append([w for words in PROTEST_WORDS.values() for w in words])
    phrases = [p.rstrip("*") for words in lists for p in words]
    texts = [t for _, t in COMPLAINTS] + SPAM + PROTESTS
    # Each phrase alone, behind prefixes and clitics, inside a longer word, with a stem's ending, and pairs of
    # phrases in one post (which one is leftmost; overlapping ones).
    for p in phrases:
        texts += [p, f"ו{p}", f"ש{p} היום", f"وال{p}", f"x{p}", f"{p}ים", f"{p}ами!", f"{p.upper()} now"]
    texts += [f"{a} ... {b}" for a, b in itertools.islice(itertools.permutations(phrases[::7], 2), 400)]
    for words in lists:
        fast = _compile(words)
        assert fast is not None
        slow = re.compile("|".join(f"(?:{_phrase_pattern(w)})" for w in words))
        for text in texts:
            folded = normalise(text).text.casefold()
            a, b = fast.search(folded), slow.search(folded)
            assert (a and a.span()) == (b and b.span()), (text, a, b)
