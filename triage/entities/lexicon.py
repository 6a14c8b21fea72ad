"""Context words that say what a nearby number is, in Hebrew, English, Russian and Arabic.

Hebrew glues prefix letters to words ("להזמנה", "ובמספר"), so lookups strip them first (see
``strip_hebrew_prefixes``).
"""

from __future__ import annotations

ORDER_WORDS: frozenset[str] = frozenset(
    {
        # Hebrew
        "הזמנה", "הזמנות", "לקוח", "מנוי", "אסמכתא", "אסמכתה", "פנייה", "פניה", "קריאה", "קריאת", "תיק",
        "משלוח", "חבילה", "מעקב", "חוזה", "פוליסה", "פוליסת", "עסקה", "עסקת", "חשבונית", "קבלה", "תלונה",
        "שובר", "אישור", "טיקט", "כרטיסייה", "תביעה", "חשבון", "ברקוד", "הזמנתי",
        # English
        "order", "orders", "case", "ticket", "tracking", "track", "reference", "ref", "customer", "account",
        "acct", "contract", "policy", "booking", "reservation", "confirmation", "invoice", "receipt", "claim",
        "parcel", "package", "shipment", "member", "membership", "subscriber", "complaint", "transaction",
        "pnr", "voucher", "request", "req", "incident",
        # Russian
        "заказ", "заказа", "заказу", "договор", "договора", "трек", "посылка", "посылки", "заявка", "заявки",
        "счет", "счёт", "полис", "обращение", "обращения",
        # Arabic
        "طلب", "الطلب", "طلبية", "الطلبية", "الشحنة", "شحنة", "حساب", "الحساب", "فاتورة", "بوليصة",
    }
)

PHONE_WORDS: frozenset[str] = frozenset(
    {
        "טלפון", "טל", "נייד", "פלאפון", "סלולרי", "להתקשר", "תתקשרו", "תחזרו", "וואטסאפ", "ווטסאפ", "מספרי",
        "phone", "tel", "mobile", "cell", "call", "whatsapp", "text", "sms",
        "телефон", "тел", "هاتف", "جوال", "موبايل", "اتصل",
    }
)

# Order words that present a number as identifying a PERSON rather than a transaction ("customer
# number", "מספר לקוח", "subscriber"). The taxonomy files customer numbers under ``order_id``, but a
# 9-digit number with a valid Israeli ID check digit behind them is, in practice, the customer's teudat
# zehut: Israeli companies key customers by it. Such numbers are redacted as ``il_id`` (personal data
# wins); see ``triage.entities.extract``. A subset of ORDER_WORDS, so order numbers are found as before.
PERSON_WORDS: frozenset[str] = frozenset({"לקוח", "מנוי", "customer", "member", "membership", "subscriber"})
assert PERSON_WORDS <= ORDER_WORDS

ID_WORDS: frozenset[str] = frozenset({"ת.ז", "ת\"ז", "ת״ז", "תז", "תעודת", "זהות", "ת.ז.", "id", "teudat", "zehut",
                                      "паспорт", "هوية"})

# Single-letter prefixes (and their combinations, e.g. "וב", "שה", "מה") that attach to Hebrew words.
HEBREW_PREFIXES = "בלהומשכ"


def strip_hebrew_prefixes(word: str, lexicon: frozenset[str]) -> str | None:
    """Return the lexicon word hidden behind up to three Hebrew prefix letters, if any."""
    if word in lexicon:
        return word
    for k in range(1, 4):
        if len(word) - k < 2 or word[k - 1] not in HEBREW_PREFIXES:
            break
        if word[k:] in lexicon:
            return word[k:]
    return None
