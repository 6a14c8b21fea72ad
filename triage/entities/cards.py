"""Payment card numbers inside chains of digit groups, in time linear in the chain length.

A chain like "052-3456789 4580 4580 4580 4580" holds a phone and a card, so a card may start and end
on any group boundary of the chain. A card has at most 19 digits, so from each start group only the
few end groups that give 13-19 digits are candidates: the work per group is bounded, whatever the
length of the chain (the old search tried every start against every end: cubic in the chain length).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from triage.entities.patterns import CHAIN_RE
from triage.entities.validators import card_valid

_GROUP_RE = re.compile(r"[0-9]+")
CARD_MIN, CARD_MAX = 13, 19
# How issuers print card numbers: 4-4-4-4 (Visa, Mastercard, Isracard), 4-4-4-4-3 (19 digits),
# 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-3 / 4-4-4-1 (15 / 13 digits). Chains are searched for these
# first, so a phone in front of a card ("0523456789 4580 4580 4580 4580") is not merged into it.
LAYOUTS: tuple[tuple[int, ...], ...] = ((4, 4, 4, 4, 3), (4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 3), (4, 4, 4, 1))

Group = tuple[int, int, str]  # start, end, digits
Card = tuple[int, int, str]  # start, end, digits
# What a group of a chain already belongs to.
FREE, TAKEN, CARD = 0, 1, 2


def card_spans(text: str, taken: Sequence[tuple[int, int]] = ()) -> list[Card]:
    """(start, end, digits) of every Luhn-valid card in ``text`` (folded: ASCII digits).

    ``taken``: sorted, disjoint spans already found to be personal data of another kind (phones, IDs).
    Cards are searched first among the other groups, so a card is not stitched together from a phone
    and the head of the real card behind it ("050 1480208 4000 0000 00000002"), which would leave the
    card's tail readable. Then the search is repeated across taken groups: when the "phone" or "ID" was a
    false match inside a chain ("3000 000000 02003 9722 ...", "ת.ז 57378333 0000 0000"), the card still
    shows, and the extractor merges the overlapping spans into one redacted span.
    """
    found: list[Card] = []
    k = 0
    for chain in CHAIN_RE.finditer(text):
        groups = [(chain.start() + g.start(), chain.start() + g.end(), g.group())
                  for g in _GROUP_RE.finditer(chain.group())]
        state = []
        for start, end, _ in groups:
            while k < len(taken) and taken[k][1] <= start:
                k += 1
            state.append(TAKEN if k < len(taken) and taken[k][0] < end else FREE)
        found += _printed_layouts(groups, state, (TAKEN, CARD))
        found += _any_layout(groups, state, across_taken=False)
        if TAKEN in state:
            found += _printed_layouts(groups, state, (CARD,))
            found += _any_layout(groups, state, across_taken=True)
    return sorted(found)


def _printed_layouts(groups: list[Group], state: list[int], blocked: tuple[int, ...]) -> list[Card]:
    """Cards printed the way issuers print them, on groups in no ``blocked`` state; marks them CARD."""
    found = []
    i = 0
    while i < len(groups):
        for layout in LAYOUTS:
            j = i + len(layout)
            fits = j <= len(groups) and all(len(groups[i + k][2]) == n for k, n in enumerate(layout))
            if fits and all(s not in blocked for s in state[i:j]):
                number = "".join(g[2] for g in groups[i:j])
                if card_valid(number):
                    found.append((groups[i][0], groups[j - 1][1], number))
                    state[i:j] = [CARD] * len(layout)
                    i = j - 1
                    break
        i += 1
    return found


def _any_layout(groups: list[Group], state: list[int], across_taken: bool) -> list[Card]:
    """Cards with any grouping among groups not in a card yet: longest candidate first from each start.

    ``across_taken``: candidates may (and then must) include taken groups; without it, only FREE groups.
    From group i only the end groups whose total is 13-19 digits are tried, so each start costs at most
    19 candidates of at most 19 digits each.
    """
    allowed = (FREE, TAKEN) if across_taken else (FREE,)
    found = []
    i = 0
    while i < len(groups):
        ends: list[tuple[int, str]] = []  # (end group, number) with 13..19 digits, shortest first
        number, j, crosses = "", i, False
        while j < len(groups) and state[j] in allowed and len(number) + len(groups[j][2]) <= CARD_MAX:
            number += groups[j][2]
            crosses = crosses or state[j] == TAKEN
            if len(number) >= CARD_MIN and crosses == across_taken:
                ends.append((j, number))
            j += 1
        for j, candidate in reversed(ends):
            if card_valid(candidate):
                found.append((groups[i][0], groups[j][1], candidate))
                state[i : j + 1] = [CARD] * (j + 1 - i)
                i = j
                break
        i += 1
    return found
