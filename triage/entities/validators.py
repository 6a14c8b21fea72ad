"""Check digits that separate real identifiers from look-alike numbers."""

from __future__ import annotations


def digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(number: str) -> bool:
    """Luhn (mod 10) check used by payment cards."""
    if not number.isdigit() or len(number) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def israeli_id_valid(number: str) -> bool:
    """Israeli ID (teudat zehut) check digit: 9 digits, weights 1,2,1,2,... with digit sums, total % 10 == 0.

    IDs are often written without leading zeros, so 5-8 digit numbers are padded first. All-zero is invalid.
    """
    if not number.isdigit() or not 5 <= len(number) <= 9:
        return False
    padded = number.zfill(9)
    if set(padded) == {"0"}:
        return False
    total = 0
    for i, ch in enumerate(padded):
        d = int(ch) * (1 + i % 2)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_valid(number: str) -> bool:
    """A payment card: 13-19 digits passing Luhn, not one repeated digit."""
    return 13 <= len(number) <= 19 and len(set(number)) > 1 and luhn_valid(number)
