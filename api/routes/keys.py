"""API key management (admin only). A key's token is in the answer that creates it, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.auth import admits
from api.routes.commanding import command_request, execute, respond
from api.schemas import Code, Name, Strict, decode_strict
from api.services import Services
from application.commands import Request as CommandRequest


class KeyCreate(Strict):
    name: Name
    roles: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=80)]], msgspec.Meta(min_length=1, max_length=20)
    ]
    expires_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class KeyRevoke(Strict):
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class KeyController(Controller):
    path = "/v1/keys"
    tags = ["access"]  # noqa: RUF012

    @post("/", operation_id="createKey", opt=admits("admin"), status_code=201)
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[KeyCreate],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Issue a key with a name, roles and an optional expiry.

        The answer holds the token; it is never shown again (a retry with the same
        Idempotency-Key answers with the key's details and ``token: null``).
        """
        raw = await request.body()
        body = decode_strict(raw, KeyCreate)
        issued = await asyncio.to_thread(
            services.access.issue_key,
            body.name,
            list(body.roles),
            now=datetime.now(UTC),
            expires_at=body.expires_at,
            request=command_request(request, raw),
        )
        return respond("create_key", issued.outcome, 201, {"token": issued.token})

    @get("/", operation_id="listKeys", opt=admits("admin"))
    async def list_keys(self, services: NamedDependency[Services]) -> list[dict[str, Any]]:
        """Every key ever issued, with roles, expiry and revocation (never a secret)."""
        return await asyncio.to_thread(services.access.keys)

    @post("/{key_id:str}/revoke", operation_id="revokeKey", opt=admits("admin"), status_code=200)
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        key_id: Code,
        data: JSONBody[KeyRevoke],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Revoke a key: it stops working at once in this process, within seconds elsewhere."""

        def command(body: KeyRevoke, req: CommandRequest) -> Any:
            return services.access.revoke_key(
                key_id, now=datetime.now(UTC), reason=body.reason, request=req
            )

        return await execute(request, "revoke_key", KeyRevoke, command)
