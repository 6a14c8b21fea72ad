"""Storage of identity links: per brand, keyed hash (customer id, handle, e-mail, phone, order) -> customer key.

The hashes come from ``triage.context.identity``; this module only finds and writes links. A customer key
is random (``c`` + 24 hex digits) and means nothing outside this database. Links are never re-pointed: when
the hashes of one post lead to two customers, the strongest kind wins for that post and both links stay
(a shared order number must not merge two people).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from store.models import IdentityLinkRow, PostRow
from triage.context.identity import (
    IDENTITY_KINDS,
    IdentityKey,
    PostIdentity,
    customer_id_hashes,
    handle_hashes,
)
from triage.errors import ConfigError, InputError


def new_customer_key() -> str:
    return "c" + secrets.token_hex(12)


def _links(session: Session, identity: PostIdentity) -> dict[tuple[str, str], IdentityLinkRow]:
    digests = [h.digest for h in identity.hashes]
    if not digests:
        return {}
    rows = session.scalars(
        select(IdentityLinkRow).where(IdentityLinkRow.brand == identity.brand, IdentityLinkRow.digest.in_(digests))
    )
    return {(row.kind, row.digest): row for row in rows}


def _strongest(links: dict[tuple[str, str], IdentityLinkRow], identity: PostIdentity) -> str | None:
    for kind in IDENTITY_KINDS:
        for digest in identity.of_kind(kind):
            if (kind, digest) in links:
                return links[(kind, digest)].customer_key
    return None


def find_customer(session: Session, identity: PostIdentity) -> str | None:
    """The customer key of the strongest linked hash of ``identity``, or None."""
    return _strongest(_links(session, identity), identity)


def link_customer(session: Session, identity: PostIdentity, seen: datetime) -> str | None:
    """Find or create the customer of ``identity`` and link every hash not yet linked to it."""
    if not identity.hashes:
        return None
    links = _links(session, identity)
    key = _strongest(links, identity) or new_customer_key()
    for h in identity.hashes:
        row = links.get((h.kind, h.digest))
        if row is not None:
            row.last_seen_at = max(row.last_seen_at, seen)
            continue
        row = IdentityLinkRow(brand=identity.brand, kind=h.kind, digest=h.digest, customer_key=key,
                              first_seen_at=seen, last_seen_at=seen)
        session.add(row)
        links[(h.kind, h.digest)] = row
    return key


@dataclass(frozen=True)
class PurgeTargets:
    """What a purge deletes: posts matching any of these, and every link of these customer keys."""

    customer_keys: frozenset[str]
    author_hashes: frozenset[str]
    customer_id: str | None
    brands: tuple[str, ...]


def _brands(session: Session, brand: str | None) -> tuple[str, ...]:
    if brand is not None:
        return (brand,)
    found = set(session.scalars(select(PostRow.brand).distinct()))
    found |= set(session.scalars(select(IdentityLinkRow.brand).distinct()))
    return tuple(sorted(found))


def _linked_keys(session: Session, kind: str, by_brand: dict[str, str]) -> set[str]:
    if not by_brand:
        return set()
    clauses = [(IdentityLinkRow.brand == b) & (IdentityLinkRow.digest == d) for b, d in by_brand.items()]
    query = select(IdentityLinkRow.customer_key).where(IdentityLinkRow.kind == kind, or_(*clauses))
    return set(session.scalars(query))


def purge_targets(
    session: Session,
    key: IdentityKey | None,
    *,
    customer_id: str | None = None,
    channel: str | None = None,
    handle: str | None = None,
    brand: str | None = None,
) -> PurgeTargets:
    """Everything that identifies one customer: by the brand's customer id, or by a handle on a channel."""
    if bool(customer_id) == bool(handle):
        raise InputError("give either a customer id or a channel and a handle", code="invalid_purge")
    if handle and not channel:
        raise InputError("a handle needs its channel", code="invalid_purge", field="channel")
    brands = _brands(session, brand)
    keys: set[str] = set()
    authors: set[str] = set()
    posts = select(PostRow.customer_key).where(PostRow.brand.in_(brands), PostRow.customer_key.is_not(None))
    if customer_id:
        customer_id = customer_id.strip()
        if key is not None:
            keys |= _linked_keys(session, "customer_id", customer_id_hashes(key, brands, customer_id))
        keys |= {k for k in session.scalars(posts.where(PostRow.customer_id == customer_id)) if k}
    else:
        if key is None:
            raise ConfigError(
                "handles are stored only as keyed hashes: "
                "set TRIAGE_IDENTITY_KEY to the store's key to purge by handle",
                code="missing_identity_key",
            )
        by_brand = handle_hashes(key, brands, channel or "", handle or "")
        authors = set(by_brand.values())
        keys |= _linked_keys(session, "handle", by_brand)
        keys |= {k for k in session.scalars(posts.where(PostRow.author_hash.in_(authors))) if k}
    return PurgeTargets(frozenset(keys), frozenset(authors), customer_id or None, brands)


def links_of(session: Session, customer_keys: Iterable[str]) -> list[IdentityLinkRow]:
    keys = list(customer_keys)
    if not keys:
        return []
    return list(session.scalars(select(IdentityLinkRow).where(IdentityLinkRow.customer_key.in_(keys))))
