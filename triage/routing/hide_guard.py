"""The hide guard: a check that does not trust the model before a post is hidden.

Hiding is for spam and abuse. A hidden complaint is a customer silenced in public, which is worse than any
amount of spam left visible for a person to remove, so before a post is hidden it must pass this guard:
word lists, per language, of what customers write when something of theirs is broken — failures ("לא
עובד", "doesn't work"), money ("חייבו", "refund"), service ("אף אחד לא עונה", "никто не отвечает") and
outages ("אין אינטרנט", "انقطاع"). Any hit means "a person decides", whatever the classifier said:
"תמותו, אין אינטרנט כבר 3 ימים" is abusive and a complaint, and it is never hidden.

Posts that rally others against the brand ("קבוצת וואטסאפ נגד החברה", "boycott") are a PR matter: they are
never hidden either, and go to the policy's protest route.

The lists favour recall: a spam post that trips them costs a person a click; a hidden complaint costs a
customer. They avoid words spam uses all the time ("money", "כסף", "free") on their own and use phrases
instead ("my money", "הכסף שלי"). Hebrew words match behind prefix letters ("שחייבו", "והאינטרנט"),
Arabic ones behind the article and clitics (ال، و، ب، ل، ف), and a word ending in ``*`` is a stem
("списал*" matches "списали", "списание" does not). The brand may add its own words in the policy
(``hide_guard.extra_words``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from triage.text.keywords import KeywordSet, keyword_anchor, keyword_pattern
from triage.text.normalise import normalise

GUARD_WORDS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "he": {
        "failure": ("לא עובד", "לא עובדת", "לא עובדים", "לא עובדות", "לא מצליח", "לא מצליחה", "לא מצליחים",
                    "לא נפתח", "לא נפתחת", "תקלה", "תקלות", "תקוע", "תקועה", "שבור", "שבורה", "פגום", "פגומה",
                    "הרוס", "לא הגיע", "לא הגיעה", "לא הגיעו", "נתקע", "נתקעה", "קורס", "קרס", "קרסה", "באג"),
        "money": ("חייבו", "חויבתי", "חיוב", "חיובים", "גביתם", "גבו ממני", "החזר כספי", "זיכוי", "הכסף שלי",
                  "לקחו לי כסף", "יורד לי כסף", "ירד לי", "הוראת קבע", "חשבונית", "גנבו", "גניבה", "רמאים",
                  "נוכלים"),
        "service": ("אף אחד לא עונה", "לא עונים", "לא עונה", "לא חוזרים", "לא חזרו", "שירות לקוחות", "נציג",
                    "נציגה", "נציגים", "מוקד", "ממתין", "ממתינה", "מחכה", "טכנאי", "ההזמנה שלי",
                    "החבילה שלי", "המשלוח שלי"),
        "outage": ("אין אינטרנט", "אין קליטה", "אין שירות", "אין חיבור", "אין טלוויזיה", "אין חשמל", "מנותק",
                   "מנותקת", "מנותקים", "ניתוק", "ניתוקים", "נפל", "נפלה", "נופל", "נופלת", "הפסקת", "השבתה",
                   "איטי", "איטית"),
    },
    "en": {
        "failure": ("not working", "doesn't work", "does not work", "doesnt work", "won't work", "stopped working",
                    "broken", "can't log in", "cannot log in", "cant log in", "can't login", "won't open", "error",
                    "crash", "crashes", "crashed", "stuck", "damaged", "faulty", "never arrived", "didn't arrive",
                    "not arrived", "missing", "bug"),
        "money": ("charged", "overcharged", "double charged", "refund", "refunds", "my money", "money back",
                  "billing", "my bill", "invoice", "direct debit", "hidden fees", "stole", "stolen", "scammed me",
                  "ripped off", "rip off"),
        "service": ("customer service", "customer support", "your support", "no one answers", "nobody answers",
                    "no answer", "no reply", "on hold", "still waiting", "been waiting", "waiting for my",
                    "your agent", "technician", "engineer", "my order", "my delivery", "my parcel", "my package"),
        "outage": ("no internet", "no signal", "no service", "no connection", "outage", "outages", "is down",
                   "went down", "been down", "down again", "offline", "disconnected", "keeps dropping", "slow"),
    },
    "ar": {
        "failure": ("لا يعمل", "لا تعمل", "ما يشتغل", "ما بيشتغل", "مش شغال", "عطل", "أعطال", "خراب", "مكسور",
                    "معطل", "لم يصل", "ما وصل", "مشكلة"),
        "money": ("خصم*", "خصمتم", "خصموا", "استرجاع", "استرداد", "فاتورة", "فواتير", "أموالي", "فلوسي",
                  "سرقة", "احتيال"),
        "service": ("خدمة العملاء", "لا أحد يرد", "ما حدا يرد", "ما في رد", "لا يردون", "مندوب", "طلبيتي",
                    "أنتظر", "بانتظار"),
        "outage": ("انقطاع", "مقطوع", "مقطوعة", "ما في إنترنت", "ما في انترنت", "لا يوجد إنترنت",
                   "لا يوجد انترنت", "لا إنترنت", "بدون إنترنت", "بطيء", "ما في تغطية"),
    },
    "ru": {
        "failure": ("не работа*", "не включа*", "не открыва*", "не могу войти", "сломал*", "слома*", "ошибк*",
                    "глюч*", "завис*", "не пришл*", "не доставил*", "брак*"),
        "money": ("списал*", "списани*", "списыва*", "деньги верн*", "верните деньги", "мои деньги", "возврат*",
                  "переплат*", "обман*", "украл*"),
        "service": ("никто не отвечает", "не отвечают", "не отвечает", "служба поддержки", "техподдержк*",
                    "оператор*", "жду", "ждём", "ждем", "мой заказ*", "где заказ", "курьер*"),
        "outage": ("нет интернета", "нет связи", "нет сигнала", "нет сети", "сбой", "сбои", "авари*", "отключ*",
                   "пропал*", "медленн*"),
    },
}

PROTEST_WORDS: Mapping[str, tuple[str, ...]] = {
    "he": ("נגד החברה", "קבוצה נגד", "קבוצת וואטסאפ נגד", "קבוצת ווטסאפ נגד", "קבוצת פייסבוק נגד", "מחאה",
           "הפגנה", "חרם", "להחרים", "מחרימים", "נפגעי", "ייצוגית"),
    "en": ("boycott", "protest", "group against", "petition", "class action", "victims of", "join us against"),
    "ar": ("مقاطعة", "قاطعوا", "احتجاج", "ضد الشركة", "مجموعة ضد", "عريضة"),
    "ru": ("бойкот*", "протест*", "против компании", "группа против", "петици*", "пострадавш*"),
}

_ARABIC_CLITICS = "(?:[وفبلك]?(?:ال)?|لل)"


def _is_arabic(word: str) -> bool:
    return bool(word) and "\u0600" <= word[0] <= "\u06ff"


def _words(phrase: str) -> tuple[list[str], bool]:
    """The phrase's folded words, and whether ``keyword_pattern`` spells it (no Arabic word, no ``*`` stem)."""
    words = normalise(phrase).text.casefold().split()
    return words, not any(_is_arabic(w) or w.endswith("*") for w in words)


def _phrase_pattern(phrase: str) -> str:
    """A regex for one list entry: Hebrew and Latin through ``keyword_pattern``; Arabic clitics; ``*`` stems."""
    words, plain = _words(phrase)
    if plain:
        return keyword_pattern(phrase)
    parts = []
    for word in words:
        stem = word.rstrip("*")
        body = re.escape(stem) + (r"\w*" if word.endswith("*") else "")
        parts.append(_ARABIC_CLITICS + body if _is_arabic(word) else body)
    return r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)"


def _anchor(phrase: str) -> str:
    """A substring of every match of ``_phrase_pattern(phrase)``: the keyword anchor, or the longest word stem."""
    words, plain = _words(phrase)
    if plain:
        return keyword_anchor(phrase)
    return max((w.rstrip("*") for w in words), key=len, default="")


def _compile(phrases: Iterable[str]) -> KeywordSet | None:
    """A list as one ``KeywordSet`` search (equal to the phrases' alternation): each phrase's regex runs only
    when the text holds its anchor. One alternation of ~80 phrases behind look-behinds cost ~0.4 ms a list on a
    100-character post, four lists per hide."""
    phrases = list(phrases)
    return KeywordSet(phrases, _phrase_pattern, _anchor) if phrases else None


@dataclass(frozen=True)
class GuardHit:
    """Why the guard stopped a hide: the category and the words as the post wrote them."""

    category: str
    word: str

    def __str__(self) -> str:
        return f"{self.category} word {self.word!r}"


class HideGuard:
    """Compiled guard lists (built once per policy; ``extra`` are the brand's own words)."""

    def __init__(self, extra: Sequence[str] = ()) -> None:
        categories = ("failure", "money", "service", "outage")
        self._lists: list[tuple[str, KeywordSet]] = []
        for category in categories:
            rx = _compile(w for lang in GUARD_WORDS.values() for w in lang.get(category, ()))
            if rx is not None:
                self._lists.append((category, rx))
        extra_rx = _compile(extra)
        if extra_rx is not None:
            self._lists.append(("brand", extra_rx))
        self._protest = _compile(w for words in PROTEST_WORDS.values() for w in words)

    @staticmethod
    def _text(text: str) -> str:
        return normalise(text).text.casefold()

    def complaint_signal(self, text: str, *, folded: bool = False) -> GuardHit | None:
        """The first failure / money / service / outage word in ``text`` (None: the guard passes).

        ``folded``: ``text`` is normalised and case-folded already (the router's), so it is not normalised again.
        """
        folded_text = text if folded else self._text(text)
        for category, rx in self._lists:
            m = rx.search(folded_text)
            if m is not None:
                return GuardHit(category, m.group(0).strip())
        return None

    def protest_signal(self, text: str, *, folded: bool = False) -> GuardHit | None:
        """A call to act against the brand together (a protest group, a boycott); ``folded`` as above."""
        if self._protest is None:
            return None
        m = self._protest.search(text if folded else self._text(text))
        return GuardHit("protest", m.group(0).strip()) if m is not None else None
