"""Customer identity across channels, never raw: keyed hashes of what identifies a customer.

A customer is recognised again by the brand's own customer id, by the author's handle on a channel, or by a
phone number, e-mail address or order number seen in a post's entities. None of these is ever stored: the
post store keeps only ``HMAC-SHA256(secret, brand | kind | normalised value)``. Without the secret (the
``TRIAGE_IDENTITY_KEY`` setting) a hash cannot be recomputed from a guessed phone number, so a copy of the
database does not reveal who wrote what; with it, the same value always gives the same hash, so the store
can link posts and purge a customer on request. The brand is part of the message: one brand's hashes never
match another's, and no brand can learn whether a person is another brand's customer.

Pure functions of their arguments: entity values exist in memory only while a post is triaged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from triage.errors import ConfigError
from triage.types import EntitiesResult, Entity, Post

IDENTITY_KEY_ENV = "TRIAGE_IDENTITY_KEY"
MIN_SECRET_BYTES = 16
# Strongest first: a match on an earlier kind wins when two kinds point to different customers.
IDENTITY_KINDS: tuple[str, ...] = ("customer_id", "handle", "email", "phone", "order_id")
ENTITY_KINDS: frozenset[str] = frozenset({"email", "phone", "order_id"})
# Post.metadata keys that carry the caller's references (the Post type has no fields for them).
REF_KEYS: tuple[str, ...] = ("thread_id", "parent_id", "customer_id")

# Channels whose author handle is the customer's phone number.
PHONE_HANDLE_CHANNELS: frozenset[str] = frozenset({"whatsapp"})

_NON_DIGIT = re.compile(r"\D")
_PHONE_HANDLE = re.compile(r"^\+?[\d\s().-]{9,24}$")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


@dataclass(frozen=True)
class IdentityKey:
    """The secret of the keyed hashes. Its repr never shows the secret."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"{IDENTITY_KEY_ENV} must be at least {MIN_SECRET_BYTES} bytes long (got {len(self.secret)}); "
                'create one with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
                code="invalid_identity_key",
            )

    @classmethod
    def from_text(cls, text: str) -> IdentityKey:
        return cls(text.strip().encode("utf-8"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IdentityKey | None:
        """The key in ``TRIAGE_IDENTITY_KEY``, or None when it is unset or empty."""
        value = (os.environ if environ is None else environ).get(IDENTITY_KEY_ENV, "").strip()
        return cls.from_text(value) if value else None

    def digest(self, brand: str, kind: str, value: str) -> str:
        message = "\x1f".join((brand, kind, value)).encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class IdentityHash:
    kind: str
    digest: str


@dataclass(frozen=True, slots=True)
class PostIdentity:
    """The keyed hashes of one post's identifiers, strongest kind first."""

    brand: str
    hashes: tuple[IdentityHash, ...] = ()

    def of_kind(self, kind: str) -> list[str]:
        return [h.digest for h in self.hashes if h.kind == kind]

    @property
    def handle_hash(self) -> str | None:
        found = self.of_kind("handle")
        return found[0] if found else None

    @property
    def case_hashes(self) -> frozenset[str]:
        """Order and case numbers: two posts that share one are about the same case."""
        return frozenset(self.of_kind("order_id"))

    @property
    def entity_hashes(self) -> tuple[IdentityHash, ...]:
        return tuple(h for h in self.hashes if h.kind in ENTITY_KINDS)


@dataclass(frozen=True, slots=True)
class PostRefs:
    """What the caller knows about a post beyond its text: its thread, its parent, the CRM's customer id."""

    thread_id: str | None = None
    parent_id: str | None = None
    customer_id: str | None = None

    @classmethod
    def from_post(cls, post: Post) -> PostRefs:
        """Read ``thread_id``, ``parent_id`` and ``customer_id`` from ``post.metadata`` (absent: None)."""
        values = {k: post.metadata.get(k) for k in REF_KEYS}
        clean = {k: (str(v).strip() or None) if v is not None and not isinstance(v, bool) else None
                 for k, v in values.items()}
        return cls(**clean)

    def thread_of(self, post_id: str | None) -> str | None:
        """The thread a post belongs to: given, else its parent's id (the caller may know better), else itself."""
        return self.thread_id or self.parent_id or post_id


def normalise_phone(value: str) -> str:
    """Digits only, with the Israeli country code written as a leading 0 (+972-52... == 052...)."""
    digits = _NON_DIGIT.sub("", value)
    if digits.startswith("00972"):
        digits = "0" + digits[5:]
    elif digits.startswith("972"):
        digits = "0" + digits[3:]
    return digits


def normalise_email(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalise_order(value: str) -> str:
    return _NON_ALNUM.sub("", unicodedata.normalize("NFKC", value)).upper()


def normalise_handle(channel: str, handle: str) -> str:
    """``channel:handle`` with case and a leading @ dropped: handles are case-insensitive on the networks."""
    return f"{channel}:{unicodedata.normalize('NFKC', handle).strip().lstrip('@').casefold()}"


_NORMALISERS = {"phone": normalise_phone, "email": normalise_email, "order_id": normalise_order}


def entity_hashes(key: IdentityKey, brand: str, entities: EntitiesResult | Sequence[Entity]) -> list[IdentityHash]:
    """Keyed hashes of the phones, e-mails and order numbers among ``entities``, without repeats."""
    items = entities.entities if isinstance(entities, EntitiesResult) else entities
    out: list[IdentityHash] = []
    for entity in items:
        if entity.type not in _NORMALISERS:
            continue
        value = _NORMALISERS[entity.type](entity.value or entity.text)
        if len(value) < 3:
            continue
        found = IdentityHash(entity.type, key.digest(brand, entity.type, value))
        if found not in out:
            out.append(found)
    return out


def handle_phone(channel: str, handle: str) -> str | None:
    """The phone number a handle is, on channels whose handles are phone numbers (WhatsApp): the same
    customer writing on Facebook with that number in the text is recognised. Else None."""
    if channel not in PHONE_HANDLE_CHANNELS or not _PHONE_HANDLE.match(handle.strip()):
        return None
    digits = normalise_phone(handle)
    return digits if 9 <= len(digits) <= 15 else None


def post_identity(
    key: IdentityKey,
    *,
    brand: str,
    channel: str,
    handle: str | None = None,
    customer_id: str | None = None,
    entities: EntitiesResult | Sequence[Entity] = (),
) -> PostIdentity:
    """Every keyed hash that identifies the author of one post, strongest kind first."""
    found: list[IdentityHash] = []
    if customer_id and customer_id.strip():
        found.append(IdentityHash("customer_id", key.digest(brand, "customer_id", customer_id.strip())))
    if handle and handle.strip().lstrip("@"):
        found.append(IdentityHash("handle", key.digest(brand, "handle", normalise_handle(channel, handle))))
        phone = handle_phone(channel, handle)
        if phone is not None:
            found.append(IdentityHash("phone", key.digest(brand, "phone", phone)))
    found += [h for h in entity_hashes(key, brand, entities) if h not in found]
    rank = {kind: i for i, kind in enumerate(IDENTITY_KINDS)}
    return PostIdentity(brand, tuple(sorted(found, key=lambda h: rank[h.kind])))


def handle_hashes(key: IdentityKey, brands: Iterable[str], channel: str, handle: str) -> dict[str, str]:
    """brand -> keyed hash of ``handle`` on ``channel`` (to find a handle's posts in every brand)."""
    value = normalise_handle(channel, handle)
    return {brand: key.digest(brand, "handle", value) for brand in brands}


def customer_id_hashes(key: IdentityKey, brands: Iterable[str], customer_id: str) -> dict[str, str]:
    return {brand: key.digest(brand, "customer_id", customer_id.strip()) for brand in brands}
