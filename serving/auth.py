"""API keys on the ``/v1`` routes, and the brands each key may triage for.

A key comes in ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Without configured keys
authentication is off: then the server binds to loopback only (``serving.server``) and the OpenAPI
document declares no security scheme (``serving.openapi``), so that it describes what the server does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from serving.errors import ApiError
from serving.keys import ApiKey, KeyRing

API_KEY_HEADER = "X-API-Key"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="triage"'}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and the brands it may triage for (``None``: every brand)."""

    tenant: str
    key: ApiKey

    def brand_for(self, brand: str | None, field: str) -> str | None:
        """The brand to triage a post for, or ApiError 403 / 422 when the key may not."""
        if brand is None:
            if self.key.brands is None:
                return None  # an operator key: the engine's default brand
            single = self.key.single_brand
            if single is not None:
                return single
            raise ApiError(
                422, "brand_required",
                f"this key is scoped to brands {sorted(self.key.brands)}; set {field} to one of them",
                field=field,
            )
        if not self.key.allows(brand):
            raise ApiError(403, "forbidden_brand", f"this API key may not triage posts for brand {brand!r}",
                           field=field)
        return brand


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in ``X-API-Key``, else in ``Authorization: Bearer``; None when neither holds one."""
    key = headers.get(API_KEY_HEADER.lower())
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def authenticate(headers: Mapping[str, str], keyring: KeyRing) -> Principal | None:
    """The caller, or None when authentication is off; ApiError 401 for a missing or unknown key."""
    if not keyring:
        return None
    presented = presented_key(headers)
    if not presented:
        raise ApiError(
            401, "missing_api_key",
            f"send your API key in the {API_KEY_HEADER} header or as Authorization: Bearer <key>",
            headers=_CHALLENGE,
        )
    key = keyring.lookup(presented)
    if key is None:
        raise ApiError(401, "invalid_api_key", "the API key is not valid", headers=_CHALLENGE)
    return Principal(key.tenant, key)
