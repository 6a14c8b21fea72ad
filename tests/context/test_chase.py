"""Chasing phrases in Hebrew, English, Arabic and Russian, the stated contact number, chase-only posts."""

from __future__ import annotations

import pytest

from triage.context import find_chase

CHASES = [
    # Hebrew
    ("נו???", None), ("נו, מה קורה", None), ("עדיין מחכה", None), ("ועדיין מחכים לתשובה", None),
    ("עדיין לא חזרו אליי", None), ("עדיין לא קיבלתי תשובה", None), ("פעם שלישית שאני כותב", 3),
    ("בפעם הרביעית אני פונה אליכם", 4), ("כבר 3 פעמים כתבתי לכם", 3), ("כבר כתבתי לכם אתמול", None),
    ("יש עדכון?", None), ("הלו???", None), ("אף אחד לא עונה", None), ("כמה עוד לחכות", None),
    # English
    ("still waiting", None), ("Still no reply from you", None), ("third time", 3), ("Any update?", None),
    ("This is the 3rd time I am writing!", 3), ("I have asked you 4 times now", 4), ("Hello??", None),
    ("just following up", None), ("nobody has replied", None), ("I already wrote yesterday", None),
    ("how long do I have to wait", None),
    # Arabic
    ("ما زلت أنتظر الرد", None), ("لا زلت انتظر", None), ("للمرة الثالثة أكتب لكم", 3), ("لسه مستني", None),
    ("أي تحديث؟", None), ("في جديد؟", None), ("ولا رد", None), ("ما حدا رد", None), ("ثالث مرة بكتب", 3),
    ("ألو؟؟", None),
    # Russian
    ("всё ещё жду", None), ("Все еще жду ответа", None), ("Пишу уже третий раз", 3), ("есть новости?", None),
    ("до сих пор никто не ответил", None), ("ну что там?", None), ("пишу вам уже 3 раза", 3),
    ("сколько можно ждать", None), ("ау??", None),
    # Punctuation only
    ("???", None), ("؟؟", None),
]


@pytest.mark.parametrize(("text", "count"), CHASES)
def test_chasing_phrases_are_found(text: str, count: int | None) -> None:
    chase = find_chase(text)
    assert chase.found, text
    assert chase.stated_count == count


@pytest.mark.parametrize(
    "text",
    [
        "hello, where is my order?",
        "Charged twice this month. Again.",
        "נוסף על כך המוצר הגיע שבור",
        "אנו מבקשים החזר",
        "שלום, איפה ההזמנה שלי? order 12345",
        "مرحبا، أين طلبي؟",
        "Здравствуйте, где мой заказ?",
        "The first time I ordered it was great",
        "Thanks for the quick answer!",
        "?",
        "Can I get an answer about the warranty?",
        "في رد على سؤالكم، المنتج ممتاز",
    ],
)
def test_first_contacts_do_not_chase(text: str) -> None:
    assert not find_chase(text).found, text


def test_chase_only_posts_bring_nothing_new() -> None:
    assert find_chase("נו???").chase_only
    assert find_chase("still waiting... any update?").chase_only
    assert find_chase("עדיין מחכה, [PHONE]").chase_only  # a placeholder is not content
    assert not find_chase("still waiting, and now you charged my card twice for the broken fridge").chase_only
    assert not find_chase("שבועיים מחכה לחבילה ואף אחד לא עונה").chase_only


def test_the_largest_stated_count_wins_and_absurd_counts_are_ignored() -> None:
    assert find_chase("second time, no, third time I write").stated_count == 3
    assert find_chase("I wrote 1000 times").stated_count is None
    assert find_chase("פעם ראשונה שאני כותב").stated_count is None


@pytest.mark.parametrize(
    "text",
    ["you charged me 2 times this month", "חייבו אותי 2 פעמים", "это в 5 раз дороже", "اغلى 3 مرات"],
)
def test_a_count_of_something_else_is_not_a_contact_count(text: str) -> None:
    assert find_chase(text).stated_count is None, text


def test_chasing_with_an_unrelated_count_is_not_the_nth_contact() -> None:
    chase = find_chase("still waiting, and you charged me 2 times")
    assert chase.found and chase.stated_count is None
