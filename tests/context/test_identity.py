"""Keyed identity hashes: normalised values, per brand, never the raw value; the key and post references."""

from __future__ import annotations

import pytest

from triage.context import (
    IdentityKey,
    PostRefs,
    entity_hashes,
    normalise_email,
    normalise_phone,
    post_identity,
)
from triage.context.identity import customer_id_hashes, handle_hashes
from triage.errors import ConfigError
from triage.types import EntitiesResult, Entity, Post

KEY = IdentityKey.from_text("unit-test-identity-key-123")


def _entity(kind: str, text: str, value: str) -> Entity:
    return Entity(type=kind, start=0, end=len(text), text=text, value=value, redacted=kind != "order_id")  # type: ignore[arg-type]


def test_phone_and_email_normalisation() -> None:
    assert normalise_phone("+972-52-345-6789") == normalise_phone("052 345 6789") == "0523456789"
    assert normalise_phone("00972523456789") == "0523456789"
    assert normalise_phone("03-1234567") == "031234567"
    assert normalise_email("  Dana.Katz@Example.COM ") == "dana.katz@example.com"


def test_the_same_value_written_two_ways_hashes_the_same() -> None:
    a = entity_hashes(KEY, "acme", [_entity("phone", "+972-52-345-6789", "972523456789")])
    b = entity_hashes(KEY, "acme", EntitiesResult(entities=[_entity("phone", "052-3456789", "0523456789")],
                                                   redacted_text="[PHONE]"))
    assert a == b and len(a) == 1 and len(a[0].digest) == 64
    assert "0523456789" not in a[0].digest


def test_hashes_depend_on_the_brand_the_kind_and_the_key() -> None:
    phone = [_entity("phone", "052-3456789", "0523456789")]
    acme, northwind = entity_hashes(KEY, "acme", phone), entity_hashes(KEY, "northwind", phone)
    other_key = entity_hashes(IdentityKey.from_text("another-key-456789012"), "acme", phone)
    as_order = entity_hashes(KEY, "acme", [_entity("order_id", "0523456789", "0523456789")])
    assert len({acme[0].digest, northwind[0].digest, other_key[0].digest, as_order[0].digest}) == 4


def test_post_identity_orders_kinds_strongest_first_and_skips_urls() -> None:
    entities = [_entity("url", "http://x.io", "http://x.io"), _entity("order_id", "4471902", "4471902"),
                _entity("email", "A@B.io", "a@b.io"), _entity("phone", "052-3456789", "0523456789"),
                _entity("phone", "0523456789", "0523456789")]
    identity = post_identity(KEY, brand="acme", channel="twitter", handle="@Dana", customer_id="CRM-1",
                             entities=entities)
    assert [h.kind for h in identity.hashes] == ["customer_id", "handle", "email", "phone", "order_id"]
    assert identity.handle_hash == handle_hashes(KEY, ["acme"], "twitter", "dana")["acme"]
    assert identity.of_kind("customer_id") == [customer_id_hashes(KEY, ["acme"], " CRM-1 ")["acme"]]
    assert len(identity.case_hashes) == 1 and len(identity.entity_hashes) == 3


def test_the_key_is_long_enough_and_never_shown() -> None:
    with pytest.raises(ConfigError) as err:
        IdentityKey.from_text("short")
    assert err.value.code == "invalid_identity_key"
    assert "unit-test" not in repr(KEY)
    assert IdentityKey.from_env({}) is None and IdentityKey.from_env({"TRIAGE_IDENTITY_KEY": "  "}) is None
    assert IdentityKey.from_env({"TRIAGE_IDENTITY_KEY": "unit-test-identity-key-123"}) == KEY


def test_post_references_come_from_metadata() -> None:
    post = Post(text="x", id="p1", metadata={"thread_id": "t1", "customer_id": 42, "parent_id": True})
    refs = PostRefs.from_post(post)
    assert refs == PostRefs(thread_id="t1", parent_id=None, customer_id="42")
    assert PostRefs(parent_id="p0").thread_of("p1") == "p0" and PostRefs().thread_of("p1") == "p1"
