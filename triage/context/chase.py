"""Chasing phrases: a customer pushing for an answer ("נו???", "עדיין מחכה", "still waiting", "third time").

``find_chase(text)`` returns the phrases found in Hebrew, English, Arabic and Russian (all four are always
tried: customers mix languages), the contact number the author states ("פעם שלישית שאני כותב" -> 3), and
whether the post does nothing but chase. A phrase alone does not make a follow-up: "still waiting for my
parcel" is a first complaint until the customer's history shows an earlier post (see ``followup``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triage.text.normalise import normalise

_QCH = "?؟"
_Q = f"[{_QCH}]"

# Ordinal words -> the contact number they state.
_HE_ORDINALS = {"שנייה": 2, "שניה": 2, "שלישית": 3, "רביעית": 4, "חמישית": 5, "שישית": 6, "שביעית": 7,
                "שמינית": 8, "תשיעית": 9, "עשירית": 10}
_HE_COUNTS = {"שתי": 2, "שלוש": 3, "ארבע": 4, "חמש": 5, "שש": 6, "שבע": 7, "שמונה": 8, "תשע": 9, "עשר": 10}
_EN_ORDINALS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
                "ninth": 9, "tenth": 10}
_EN_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
# Arabic after folding (alef forms -> ا, ة -> ه, ى -> ي).
_AR_ORDINALS = {"ثانيه": 2, "ثاني": 2, "ثالثه": 3, "ثالث": 3, "رابعه": 4, "رابع": 4, "خامسه": 5, "خامس": 5,
                "سادسه": 6, "سادس": 6, "عاشره": 10, "عاشر": 10}
_AR_COUNTS = {"ثلاث": 3, "اربع": 4, "خمس": 5, "ست": 6, "عشر": 10}
# Russian after folding (ё -> е).
_RU_ORDINALS = {"второй": 2, "третий": 3, "четвертый": 4, "пятый": 5, "шестой": 6, "седьмой": 7,
                "восьмой": 8, "девятый": 9, "десятый": 10}
_RU_COUNTS = {"два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6, "семь": 7, "восемь": 8,
              "девять": 9, "десять": 10}


def _alt(words: dict[str, int]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


# (name, pattern): the name is what the reasons show. Patterns run on folded, lower-cased text.
_PHRASES: tuple[tuple[str, str], ...] = (
    # Hebrew
    ("he:nu", rf"(?<!\w)נו(?:\s*[?!{_QCH}]+|\s*,?\s*(?:מה|איפה|נו)(?!\w))"),
    ("he:still-waiting", r"(?<!\w)ו?(?:עדיין|עוד)\s+(?:אני\s+|אנחנו\s+)?(?:מחכ(?:ה|ים|ות)|ממתינ(?:ה|ים|ות)?)(?!\w)"),
    ("he:still-no-answer", r"(?<!\w)ו?עדיין\s+(?:לא|אין|אף\s+אחד\s+לא)\s+(?:\w+\s+)?"
                           r"(?:חזר\w*|ענ\w*|עונ\w*|קיבלתי|תשובה|מענה|התקשר\w*|טיפל\w*|עדכנ\w*)"),
    ("he:wrote-already",
     r"(?<!\w)(?:כבר|שוב)\s+(?:אני\s+)?(?:כתבתי|פניתי|שלחתי|התקשרתי|פונה|כותבת?|שואלת?|מבקשת?)(?!\w)"),
    ("he:nobody-answers", r"(?<!\w)ו?(?:אף\s+אחד|אין\s+מי\s+ש)\s*(?:לא\s+)?(?:עונה|חוזר|חזר|ענה|מתייחס)(?!\w)"),
    ("he:any-update", rf"(?<!\w)(?:יש|מה\s+עם\s+ה?)\s*(?:איזה\s+|כבר\s+)?(?:עדכון|עדכונים|חדש|תשובה)\s*{_Q}"),
    ("he:no-answer", r"(?<!\w)ו?(?:אין|בלי|ללא)\s+(?:שום\s+)?(?:תשובה|מענה|התייחסות)(?!\w)"),
    ("he:whats-up", rf"(?<!\w)מה\s+(?:קורה|עם\s+זה|נסגר|הסטטוס|המצב)\s*{_Q}"),
    ("he:hello", rf"(?<!\w)הלו+\s*[?!{_QCH}]"),
    ("he:how-long", r"(?<!\w)(?:מתי\s+(?:כבר\s+)?(?:תחזרו|תענו|תטפלו)|כמה\s+(?:עוד\s+|זמן\s+)?(?:אפשר\s+)?לחכות)"),
    ("he:reminder", r"(?<!\w)(?:רק\s+)?(?:מזכירה?|תזכורת)(?!\w)"),
    # English
    ("en:still-waiting", r"\bstill\s+(?:waiting|no\s+(?:reply|response|answer|update|word|news|one)|nothing|"
                         r"haven'?t\s+(?:heard|received|got(?:ten)?))\b"),
    ("en:any-update", r"\bany\s+(?:updates?|news|reply|response|answer)\b|\ban\s+update\b|\bwhat'?s\s+the\s+status\b"),
    ("en:follow-up", r"\bfollow(?:ing)?[\s-]?up\b"),
    ("en:wrote-already",
     r"\b(?:already|again)\s+(?:wrote|written|messaged|emailed|contacted|asked|called|dm'?d|sent)\b|"
                         r"\b(?:asking|writing|messaging)\s+(?:you\s+)?again\b"),
    ("en:nobody-answers", r"\b(?:no\s*one|nobody)\s+(?:has\s+|is\s+|ever\s+)?(?:replied|answered|responded|got\s+back|"
                          r"gotten\s+back|answering|replying|responding|getting\s+back)\b"),
    ("en:hello", rf"\b(?:hello+|anyone|anybody)\s*(?:there|home)?\s*{_Q}+"),
    ("en:no-answer", r"\b(?:heard\s+nothing|haven'?t\s+heard\s+back|no\s+(?:reply|response|answer)\s+(?:yet|still))\b"),
    ("en:how-long", r"\bhow\s+(?:much\s+)?long(?:er)?\s+(?:do|should|must|will)\s+(?:i|we)\s+(?:have\s+to\s+)?wait\b"),
    ("en:reminder", r"\b(?:reminder|bump|chasing)\b"),
    # Arabic (folded)
    ("ar:still-waiting",
     r"(?<!\w)(?:ما|لا)\s*(?:زلت|زلنا|زال|ازال)\s+(?:ب?انتظر|ننتظر|بانتظار|منتظر\w*|استني|مستني\w*)"),
    ("ar:still-waiting", r"(?<!\w)(?:لسا|لسه|لساتني|لسع)\s+(?:مستني\w*|بستن\w*|ناطر\w*|بنطر|منتظر\w*|بانتظار|"
                         r"ما\s+حدا|ما\s+حد|محدش|ما\s+في\s+رد|مفيش\s+رد)"),
    ("ar:any-update", rf"(?<!\w)اي\s+(?:تحديث|جديد|رد|اخبار)(?!\w)|(?<!\w)في\s+(?:اي\s+)?(?:جديد|تحديث)\s*{_Q}"),
    ("ar:no-answer", r"(?<!\w)(?:ولا|بدون|مافي|ما\s+في|مفيش|ما\s+حدا|ما\s+حد|محدش|لا\s+احد|ولا\s+حدا|ولا\s+احد)\s+"
                     r"(?:رد\w*|يرد|بيرد|جواب|يجاوب|بيجاوب)(?!\w)"),
    ("ar:wrote-already", r"(?<!\w)(?:كتبت|راسلتكم|راسلت|تواصلت|اتصلت|بعثت)\s+(?:لكم\s+|معكم\s+)?"
                         r"(?:اكثر\s+من\s+مره|مرتين|عده\s+مرات|كذا\s+مره|مره\s+ثانيه|من\s+قبل|سابقا)"),
    ("ar:hello", rf"(?<!\w)الو+\s*[?!{_QCH}]"),
    ("ar:how-long", r"(?<!\w)(?:متي\s+(?:رح\s+|سوف\s+|ح\s+)?(?:تردوا|تردون|الرد|ترد)|"
                    r"كم\s+(?:لازم\s+|بدي\s+|يجب\s+ان\s+)?(?:استني|انتظر|ننتظر))"),
    # Russian (folded)
    ("ru:still-waiting", r"(?<!\w)все\s+еще\s+(?:жду|ждем|нет|не\s+(?:ответили|получил\w*|перезвонили)|никто)(?!\w)"),
    ("ru:still-waiting", r"(?<!\w)до\s+сих\s+пор\s+(?:жду|ждем|нет|не\s+\w+|никто|ничего|тишина)(?!\w)"),
    ("ru:any-update",
     rf"(?<!\w)есть\s+(?:какие-?\s*(?:то|нибудь)\s+)?(?:новости|ответ|информация|обновлени\w*)\s*{_Q}"),
    ("ru:nobody-answers",
     r"(?<!\w)(?:никто|ни\s+кто)\s+(?:так\s+и\s+)?не\s+(?:отвечает|ответил|перезвонил|связался|реагирует)"),
    ("ru:hello", rf"(?<!\w)(?:ау+|алло+|ну\s+(?:что|и|как)(?:\s+там)?)\s*[?!{_QCH}]+"),
    ("ru:how-long", r"(?<!\w)(?:когда\s+(?:же\s+)?(?:уже\s+)?(?:ответите|будет\s+ответ|перезвоните|решите)|"
                    r"сколько\s+(?:можно|еще|мне)\s+(?:\w+\s+)?ждать)"),
    ("ru:wrote-already",
     r"(?<!\w)(?:(?:повторно|снова|опять)\s+(?:пишу|обращаюсь|спрашиваю)|уже\s+(?:писал\w*|обращал\w*|звонил\w*))"),
    ("ru:reminder", r"(?<!\w)напомина\w*"),
)
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in _PHRASES)
_ONLY_QUESTION_MARKS = re.compile(rf"^\W*{_Q}{{2,}}\W*$")

# Phrases that state which contact this is; the number is the first group that matched. A bare count
# ("charged me 2 times", "в 5 раз дороже") says nothing about contacts: counts need a contact verb.
_HE_CONTACT = r"(?:כות\w*|כתב\w*|פונ\w*|פני\w*|שולח\w*|שלח\w*|מתקשר\w*|התקשר\w*|שוא\w*)"
_EN_CONTACT = r"(?:asked|written|wrote|messaged|called|emailed|contacted|tried|reached\s+out|dm'?d)"
_AR_CONTACT = r"(?:كتبت|راسلتكم|راسلت|تواصلت|اتصلت|بعثت)"
_RU_CONTACT = r"(?:пишу|пишем|обращаюсь|звоню|спрашиваю|писал\w*|обращал\w*|звонил\w*)"
_COUNTED: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("he:nth-time", rf"(?<!\w)[בה]?פעם\s+ה?({_alt(_HE_ORDINALS)})(?!\w)", _HE_ORDINALS),
    ("he:n-times", rf"(?<!\w)(\d+|{_alt(_HE_COUNTS)})\s+פעמים\s+(?:ש?אני\s+)?{_HE_CONTACT}", _HE_COUNTS),
    ("he:n-times", rf"(?<!\w){_HE_CONTACT}\s+(?:לכם\s+|אליכם\s+)?(?:כבר\s+)?(\d+|{_alt(_HE_COUNTS)})\s+פעמים",
     _HE_COUNTS),
    ("he:n-times", rf"(?<!\w)כבר\s+(\d+|{_alt(_HE_COUNTS)})\s+פעמים\s+(?:ש|אני|כתבתי|פניתי)", _HE_COUNTS),
    ("en:nth-time", rf"\b(?:({_alt(_EN_ORDINALS)})|(\d+)(?:st|nd|rd|th))\s+time\b", _EN_ORDINALS),
    ("en:n-times", rf"\b{_EN_CONTACT}\s+(?:you\s+|here\s+|to\s+you\s+)?(\d+|{_alt(_EN_COUNTS)})\s+times\b",
     _EN_COUNTS),
    ("en:n-times", rf"\b(\d+|{_alt(_EN_COUNTS)})\s+times\s+(?:now|already)\b", _EN_COUNTS),
    ("ar:nth-time", rf"(?<!\w)(?:لل|ال)?مر[هت]\s+ال({_alt(_AR_ORDINALS)})(?!\w)", _AR_ORDINALS),
    ("ar:nth-time", rf"(?<!\w)(?:({_alt(_AR_ORDINALS)})\s+مر[هت]|مر[هت]\s+({_alt(_AR_ORDINALS)}))(?!\w)",
     _AR_ORDINALS),
    ("ar:n-times", rf"(?<!\w){_AR_CONTACT}\w*\s+(?:لكم\s+)?(\d+|{_alt(_AR_COUNTS)})\s+مرات(?!\w)", _AR_COUNTS),
    ("ar:n-times", rf"(?<!\w)(\d+|{_alt(_AR_COUNTS)})\s+مرات\s+{_AR_CONTACT}", _AR_COUNTS),
    ("ru:nth-time", rf"(?<!\w)(?:({_alt(_RU_ORDINALS)})|(\d+)-?(?:й|ый|ий))\s+раз(?!\w)", _RU_ORDINALS),
    ("ru:n-times", rf"(?<!\w)(\d+|{_alt(_RU_COUNTS)})\s+раза?\s+{_RU_CONTACT}", _RU_COUNTS),
    ("ru:n-times", rf"(?<!\w){_RU_CONTACT}\s+(?:вам\s+)?(?:уже\s+)?(\d+|{_alt(_RU_COUNTS)})\s+раза?(?!\w)",
     _RU_COUNTS),
)
_COUNTED_COMPILED = tuple((name, re.compile(pattern), words) for name, pattern, words in _COUNTED)
# Words that carry no content of their own in a chasing post.
_FILLER_WORDS = (
    "i im am me my we us you your u guys please pls plz hi hey hello ok the a an for on of to is it this that "
    "and or so yet still just now already again any anyone there here what about with",
    "אני אנחנו לי שלי אליי אתכם לכם שלכם מה עם זה כבר פה רק שוב בבקשה היי שלום את על של גם אז טוב ועדיין עדיין",
    "انا لي عندي يا شباب من فضلك لو سمحت مرحبا السلام عليكم في على هل و",
    "я мне мой вы вас вам ну и а уже пожалуйста здравствуйте привет что это по",
)
_FILLER = frozenset(word for line in _FILLER_WORDS for word in line.split())
_WORD = re.compile(r"[^\W\d_]+")
_PLACEHOLDER = re.compile(r"\[[a-z_]+\]")
_MAX_CONTENT_WORDS = 2
_MAX_STATED = 50


@dataclass(frozen=True, slots=True)
class Chase:
    """The chasing found in one text."""

    phrases: tuple[str, ...]
    stated_count: int | None
    chase_only: bool

    @property
    def found(self) -> bool:
        return bool(self.phrases)


def fold(text: str) -> str:
    """Text for matching: normalised, case-folded, Arabic letter forms folded and marks dropped, ё -> е."""
    folded = normalise(text).text.casefold() if text else ""
    return _ARABIC_MARKS.sub("", folded).translate(_FOLD_TABLE)


# Harakat, superscript alef and tatweel: optional in written Arabic.
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_FOLD_TABLE = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ё": "е", "’": "'"})


def _number(match: re.Match[str], words: dict[str, int]) -> int | None:
    token = next((g for g in match.groups() if g), None)
    if token is None:
        return None
    number = int(token) if token.isdigit() else words.get(token)
    return number if number is not None and 2 <= number <= _MAX_STATED else None


def stated_count(folded: str) -> int | None:
    """The contact number the author states ("third time", "פעם שלישית", "пишу 3 раза"), the largest."""
    counts = [n for _, pattern, words in _COUNTED_COMPILED for match in pattern.finditer(folded)
              if (n := _number(match, words)) is not None]
    return max(counts) if counts else None


def find_chase(text: str) -> Chase:
    """Chasing phrases in ``text`` (any of the four languages), the stated contact number, chase-only."""
    folded = fold(text)
    phrases: list[str] = []
    rest = folded
    for name, pattern in (*_COMPILED, *((n, p) for n, p, _ in _COUNTED_COMPILED)):
        if pattern.search(folded):
            if name not in phrases:
                phrases.append(name)
            rest = pattern.sub(" ", rest)
    if _ONLY_QUESTION_MARKS.match(folded):
        phrases.append("question-marks")
    count = stated_count(folded)
    content = [w for w in _WORD.findall(_PLACEHOLDER.sub(" ", rest)) if w not in _FILLER]
    return Chase(tuple(phrases), count, bool(phrases) and len(content) <= _MAX_CONTENT_WORDS)
