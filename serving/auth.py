"""API keys on the ``/v1`` routes, and the brands each key may triage for.

A key comes in ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Without configured keys
authentication is off: then the server binds to loopback only (``serving.server``) and the OpenAPI
document declares no security scheme, so that it describes what the server really does.
"""

# No ``from __future__ import annotations``: FastAPI reads ``require_key``'s signature, whose annotations
# refer to the local security schemes.
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.errors import LOG_KEY, ApiError
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
            raise ApiError(403, "forbidden_brand", f"this API key may not triage posts for brand {brand!r}", field=field)
        return brand


AuthDependency = Callable[..., Coroutine[Any, Any, Principal | None]]


def make_auth(keyring: KeyRing) -> AuthDependency:
    """A FastAPI dependency returning the caller's Principal, or None when authentication is off."""
    if not keyring:

        async def no_auth() -> None:
            return None

        return no_auth

    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The API key itself.")

    async def require_key(
        request: Request,
        api_key: Annotated[str | None, Security(header)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        presented = api_key or (credentials.credentials if credentials else None)
        if not presented:
            raise ApiError(
                401, "missing_api_key",
                f"send your API key in the {API_KEY_HEADER} header or as Authorization: Bearer <key>",
                headers=_CHALLENGE,
            )
        key = keyring.lookup(presented)
        if key is None:
            raise ApiError(401, "invalid_api_key", "the API key is not valid", headers=_CHALLENGE)
        note = request.scope.get(LOG_KEY)
        if isinstance(note, dict):
            note["tenant"] = key.tenant
        return Principal(key.tenant, key)

    return require_key
