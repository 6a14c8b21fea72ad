"""API keys: generate a key, hash it, and parse the ``tenant:sha256hex[:brands]`` entries the server reads.

The server never stores a key, only its SHA-256. Keys are 256-bit random tokens, so a plain (unsalted)
SHA-256 is enough: there is nothing to brute-force. Lookups hash the presented key and compare it with
every stored hash in constant time (``hmac.compare_digest``, no early exit), so timing reveals neither
whether nor where a hash matched.

Entry format (one per line in ``TRIAGE_API_KEYS_FILE``, or comma-separated in ``TRIAGE_API_KEYS``)::

    tenant:sha256hex              the key may triage posts for the brand named like the tenant
    tenant:sha256hex:a|b          ... for brands a and b
    tenant:sha256hex:*            ... for every brand (an operator key)

Run ``python -m serving.keys --tenant acme`` (or ``triage serve hash-key --tenant acme``) to create a key:
it prints the key once, to give to the client, and the entry to put into the server's configuration.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KEY_PREFIX = "trk_"
ALL_BRANDS = "*"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
# Entries are separated by commas or whitespace; brands inside an entry by "|".
_ENTRY_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class ApiKey:
    """One configured key: who holds it and which brands it may triage for (``None``: every brand)."""

    tenant: str
    sha256: str
    brands: frozenset[str] | None

    def allows(self, brand: str) -> bool:
        return self.brands is None or brand in self.brands

    @property
    def single_brand(self) -> str | None:
        """The brand a post without one is triaged for, when the key is scoped to exactly one."""
        if self.brands is not None and len(self.brands) == 1:
            return next(iter(self.brands))
        return None

    def to_entry(self) -> str:
        if self.brands is None:
            scope = ALL_BRANDS
        elif self.brands == frozenset({self.tenant}):
            return f"{self.tenant}:{self.sha256}"
        else:
            scope = "|".join(sorted(self.brands))
        return f"{self.tenant}:{self.sha256}:{scope}"


def new_key() -> str:
    """A fresh random key (256 bits of entropy), recognisable by its prefix in secret scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_entry(entry: str) -> ApiKey:
    """Parse ``tenant:sha256hex[:brands]``; raise ValueError naming what is wrong (never echoing a secret)."""
    parts = entry.strip().split(":")
    if len(parts) not in (2, 3):
        raise ValueError(
            "an API key entry must look like tenant:sha256hex or tenant:sha256hex:brand|brand "
            f"(got {len(parts)} ':'-separated parts)"
        )
    tenant, digest = parts[0], parts[1].lower()
    if not NAME_RE.match(tenant):
        raise ValueError(f"tenant {tenant!r} must be 1-64 letters, digits, '_', '.' or '-'")
    if not HASH_RE.match(digest):
        raise ValueError(
            f"the entry for tenant {tenant!r} does not hold a sha256 hex digest (64 hex digits); store the key's "
            "hash, never the key: `python -m serving.keys --tenant NAME` prints the entry"
        )
    if len(parts) == 2:
        return ApiKey(tenant, digest, frozenset({tenant}))
    scope = parts[2].strip()
    if scope == ALL_BRANDS:
        return ApiKey(tenant, digest, None)
    brands = frozenset(b.strip() for b in scope.split("|") if b.strip())
    bad = sorted(b for b in brands if not NAME_RE.match(b))
    if not brands or bad:
        raise ValueError(f"the entry for tenant {tenant!r} has invalid brands {bad or scope!r}; use a|b or *")
    return ApiKey(tenant, digest, brands)


def parse_entries(text: str) -> list[ApiKey]:
    """Parse many entries separated by commas, spaces or new lines; ``#`` starts a comment."""
    keys = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        keys += [parse_entry(e) for e in _ENTRY_SPLIT.split(line) if e]
    return keys


class KeyRing:
    """The configured keys. Empty means authentication is off (and the server binds to loopback only)."""

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._keys = tuple(keys)
        self._digests = [bytes.fromhex(k.sha256) for k in self._keys]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, presented: str) -> ApiKey | None:
        """The key whose hash matches ``presented``, checking every entry so the time is always the same."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found = None
        for key, stored in zip(self._keys, self._digests, strict=True):
            if hmac.compare_digest(digest, stored):
                found = key
        return found


def make_entry(tenant: str, brands: str | None = None, key: str | None = None) -> tuple[str, str]:
    """(key, entry) for ``tenant``; a new random key unless ``key`` is given. ``brands``: "a,b", "*" or None."""
    key = key if key is not None else new_key()
    if not key:
        raise ValueError("the key is empty")
    scope = None if brands is None else ("*" if brands.strip() == "*" else "|".join(_ENTRY_SPLIT.split(brands.strip())))
    entry = f"{tenant}:{hash_key(key)}" + (f":{scope}" if scope else "")
    return key, parse_entry(entry).to_entry()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.keys",
        description="Create an API key for the triage server and print the entry to configure (its SHA-256).",
    )
    parser.add_argument("--tenant", required=True, help="who holds the key; also its brand unless --brands is given")
    parser.add_argument("--brands", help="comma-separated brands the key may triage for, or * for all brands")
    parser.add_argument("--stdin", action="store_true", help="hash a key read from standard input instead of a new one")
    args = parser.parse_args(argv)
    given = sys.stdin.readline().strip() if args.stdin else None
    try:
        key, entry = make_entry(args.tenant, args.brands, given)
    except ValueError as exc:
        parser.error(str(exc))
    if given is None:
        sys.stdout.write(f"key (give it to the client; it is not stored anywhere): {key}\n")
    sys.stdout.write(f"entry (add it to TRIAGE_API_KEYS or TRIAGE_API_KEYS_FILE): {entry}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
